"""Configuration: webhooks.json (model, loader, `${VAR}` substitution) and the process's
environment settings, read on first use (references to SSM and Secrets Manager refreshed
on a period) and validated with errors that name file, webhook, field."""
