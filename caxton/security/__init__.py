"""Who may reach a node and what they may do there.

* ``keys``: CurveZMQ key files (ZeroMQ's certificate format, the role in
  their metadata), the folder of authorized public keys, and ``Keys``, what a
  client connects with. A node-to-node link will load its keys here too.
* ``roles``: which operations each role may ask for.
* ``gate``: the node's side: the CURVE options of its socket, the ZAP handler
  that admits authorized keys, and the role check of each request.
* ``handshake``: the client's side: the CURVE options of its sockets and a
  clear reason when a node refuses the handshake.
* ``exposure``: which listen addresses are reachable from other hosts.
* ``files``: the modes of the data folder and of what is in it.

``docs/security.md`` is the narrative. Importing this package loads nothing
of the node, so clients can use it.
"""
