"""Identities from the organisation's directory.

Three kinds of source (CSV upload, LDAP / Active Directory sync, SCIM 2.0
provisioning) feed one path:

1. the source hands over records, plain dicts of its attributes;
2. ``mapping.desired_states`` turns them, with the source's mapping (data,
   edited in the admin), into the identities the directory wants;
3. ``mapping.plan`` compares those with the console (``console.snapshot``)
   and lists every create, change, move between kinds, channel added,
   changed or removed, manager / sponsor / owner change and deactivation;
4. ``workflow.directory`` applies a plan in one transaction, each change
   audited with the source and the run (``SyncRun``), a deactivation
   revoking everything the identity had, and a plan touching too large a
   share of the source's identities waiting for a security admin.

Nothing here writes but the workflow; the admin pages (CSV upload, preview,
confirm) call it.
"""
