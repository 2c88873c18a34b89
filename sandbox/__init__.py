"""A stand-in TikTok Shop server that speaks the real Open API protocol; it imports nothing from the rest of the house.

Entry points: `sandbox.config.SandboxConfig`, `sandbox.app.create_app(config)` and `sandbox.cli.main()`.
"""

import sys

# httpx's command-line client, loaded by `import httpx` whenever click, rich and pygments are installed: never used
# here, ~0.1 s of CPU at every start of the sandbox's process (adapters/__init__.py says more).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
