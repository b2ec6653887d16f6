"""Optional AI trade review through the OpenAI API (issue 8): explanations, reviews, an entry advisor.

Off by default: nothing is sent unless the user switched it on and an API key is configured. It
never places orders. Modules: `config` (settings and prices), `setup` (key and settings, resolved
per user), `store` (the `ai_*` tables), `client` (one recorded, budgeted request), `prompts` and
`statistics` (what is sent), `features` (explain, daily review) and `advisor` (the entry advisor).

This package file imports nothing, so `advisor` can be imported by the engine without the rest.
"""
