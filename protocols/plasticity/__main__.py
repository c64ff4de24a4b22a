"""``python -m protocols.plasticity CONFIG [options]``: the plasticity protocol's command line."""
from protocols.plasticity import main

if __name__ == "__main__":
    raise SystemExit(main())
