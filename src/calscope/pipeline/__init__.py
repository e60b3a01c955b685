"""What runs in which order: the demo job and the population analysis of a recording."""

from calscope.pipeline.demo import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
