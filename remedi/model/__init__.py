"""The networks: LLaDA's transformer (`llada`), the Unmasking Policy Stream beside it (`ups_heads`, `ups_stream`,
`ups_registry`, `ups`), the official RemeDi release's layout (`release`), tokenizers, tiny configs and loading a
model directory by path."""
