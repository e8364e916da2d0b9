
app_name = "pipeline"
urlpatterns: list = []
