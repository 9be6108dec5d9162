"""Configuration: webhooks.json (model, loader, `${VAR}` substitution) and the process's
environment settings, each read once and validated with errors that name file, webhook, field."""
