"""The emails this server sends: the flows and their checks (flows), each flow's link and code
(links), the templates and where they come from (templates, template_store, template_urls),
and the mail log with the email budget it backs (log)."""
