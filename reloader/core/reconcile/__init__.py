"""The parts of one decision step, by concern (assembled in :mod:`reloader.core.reconciler`).

* :mod:`.scratch`: the mutable scratch space of a step, the queries on it and
  the journaling helpers (every record is a typed payload of ``records``);
* :mod:`.windows`: debounce windows: opening, coalescing, firing, planning;
* :mod:`.sync`: lists, Deployments, the level-triggered resync and catch-up;
* :mod:`.dispatch`: the restart queue under the rate limit and rollout cap,
  attempts and retries;
* :mod:`.outcomes`: what the answers to patches and adoptions mean;
* :mod:`.rollouts`: following a rollout to its end or deadline;
* :mod:`.leadership`: leadership terms, shutdown and its flush.
"""
