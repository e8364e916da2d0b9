
app_name = "creatives"
urlpatterns: list = []
