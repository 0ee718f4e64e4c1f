"""LiveKit's agent command line for trunkline: ``python agent.py dev|start|console|download-files``.

Everything lives in the ``agent/`` package beside this file (``agent.worker`` builds the
server); this file exists because LiveKit users and ``lk agent deploy`` expect it.
"""

from agent.worker import main

if __name__ == "__main__":
    main()
