"""The demo factory: a realistic factory for newcomers, tests and benchmarks (see generator)."""

from factory_tui.demo.generator import DemoFactory, generate_demo, stop_demo_processes

__all__ = ["DemoFactory", "generate_demo", "stop_demo_processes"]
