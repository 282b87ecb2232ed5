from django.urls import include, path

urlpatterns = [
    path("walmart/", include("cancellations.sandbox.walmart")),
    path("mirakl/", include("cancellations.sandbox.mirakl")),
]
