"""SCIM 2.0 service provider (RFC 7643 / 7644) at ``/scim/v2/``.

A SCIM client (Entra ID, Okta, a generic one) authenticates with the bearer
token of its ``DirectoryClient`` and writes the users of that client's
source, and only those. The pieces:

- ``schema``: the User schema and its enterprise extension as data (served
  at ``/Schemas`` too), cleaning a resource, applying a PATCH to the whole
  resource, and the flat record the source's mapping reads;
- ``filters``: a ``filter`` parameter to a query (parsed by
  scim2-filter-parser; unknown attributes refused, never ignored);
- ``views``: HTTP: authentication, rate limit, audit, errors as RFC 7644
  §3.12 says.

Every write goes through ``workflow.provision_scim_user``, which hands the
user's whole record to ``sync_directory``: one path with CSV and LDAP.
"""
