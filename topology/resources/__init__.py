"""The kinds of server object `apply` keeps for each tenant, one module each.

Every kind observes what the servers hold for all the tenants at once (`observe`), compares
it with the declarations without touching a server (`diff`, `removal`: pure, unit-tested),
and carries out its changes in batches (`carry_out`). `topology.apply` is one loop over them.
"""
