"""LiveKit's agent command line for trunkline: ``python agent.py dev|start|console|download-files``.

Everything lives in the ``agent/`` package beside this file (``agent.launch`` prepares the
process, ``agent.worker`` builds the server); this file exists because LiveKit users and
``lk agent deploy`` expect it.
"""

from agent.launch import main

if __name__ == "__main__":
    main()
