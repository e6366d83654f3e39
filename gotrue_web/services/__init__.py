"""Services: GoTrue's rules, shared by the JSON API and the console. They flush, never commit."""
