"""The CEL worker-process pool (`pool.py`: spawned interpreters that evaluate RoutingRules off the event loop,
each within a budget) and routing through it (`route.py`). Process I/O, no Kubernetes I/O."""

from switchyard.celpool.pool import RuleEvaluatorPool, close, configure, warm
from switchyard.celpool.route import route_input

__all__ = ["RuleEvaluatorPool", "close", "configure", "route_input", "warm"]
