"""A stand-in TikTok Shop server that speaks the real Open API protocol; it imports nothing from the rest of the house.

Entry points: `sandbox.config.SandboxConfig`, `sandbox.app.create_app(config)` and `sandbox.cli.main()`.
"""
