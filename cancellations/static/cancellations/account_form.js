// Account form: show only the credential inputs of the auth mode chosen in the select.
document.addEventListener("DOMContentLoaded", () => {
  const select = document.getElementById("id_auth");
  if (!select) return;
  const show = () => {
    for (const fieldset of document.querySelectorAll("fieldset.auth-mode")) {
      fieldset.hidden = !fieldset.classList.contains(`auth-mode-${select.value}`);
    }
  };
  select.addEventListener("change", show);
  show();
});
