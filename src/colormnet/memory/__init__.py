"""XMem-style memory: storage (store.py), maths (readout.py) and policy (manager.py)."""
