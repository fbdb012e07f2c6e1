"""Pure builders: settings in, plain dicts and strings out (container definitions, IAM policy
documents, state machine definitions, schedule targets, names, AWS rules). Nothing here imports
Pulumi; each is tested directly, without the mock engine."""
