"""Server-side apply and `metadata.managedFields` for the API test server.

`schema` knows how each field is tracked (from the API's OpenAPI schemas),
`custom` reads a custom kind's CRD schema (and checks its list invariants),
`fields` computes, compares and merges field sets, `managers` keeps the
managedFields entries and decides applies and conflicts, `lastapplied` lets
`kubectl` upgrade a client-side applied object.
"""
