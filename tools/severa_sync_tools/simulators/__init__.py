"""Local simulators of the systems severa-sync talks to, served over real HTTP on 127.0.0.1.

They are product tools (``severa-sync demo``, ``severa-sync simulate ...``), not test fakes.
"""
