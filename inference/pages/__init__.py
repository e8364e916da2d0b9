"""Server-rendered pages where marketers browse, export and regenerate creatives."""
