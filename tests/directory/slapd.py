"""A private OpenLDAP server (Debian's ``slapd``) for tests and the bench.

``Slapd(workdir).load(directory)`` writes a ``slapd.conf`` of its own (mdb
backend, the ``memberof`` and ``ppolicy`` overlays, StartTLS and LDAPS with
a throwaway CA, a read-only service account that gets at most
``page_limit`` entries a search unless it pages, as Active Directory's
MaxPageSize does, and a size-limited one), loads the generated directory
offline with ``slapadd`` (much faster than LDAP adds) and starts ``slapd``
in the foreground on free ports of 127.0.0.1 (LDAP and LDAPS).
``reset()`` puts the same data back for a test that changed it; ``stop()``
ends the process it started. ``modify(ldif)`` applies LDIF changes through
``ldapmodify`` as the root DN, the way an administrator would (so the
overlays and timestamps run).
"""

from __future__ import annotations

import shutil
import socket
import subprocess  # nosec B404 - runs slapd and its tools, our own arguments
import time
from pathlib import Path

from . import certificates
from .people import (
    LIMITED_DN,
    LIMITED_SIZE,
    READER_DN,
    ROOT_DN,
    ROOT_PASSWORD,
    SUFFIX,
    Directory,
)

SLAPD = shutil.which("slapd") or shutil.which("slapd", path="/usr/sbin")
SLAPADD = shutil.which("slapadd") or shutil.which("slapadd", path="/usr/sbin")
LDAPMODIFY = shutil.which("ldapmodify")
LDAPSEARCH = shutil.which("ldapsearch")
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")

INSTALL_HINT = "apt-get install -y slapd ldap-utils"


def missing() -> str | None:
    """Why no test server can run here, or None."""
    if not (SLAPD and SLAPADD and LDAPMODIFY and LDAPSEARCH):
        return f"slapd or ldap-utils is missing: {INSTALL_HINT}"
    return None


TLS = """\
TLSCACertificateFile {folder}/ca.pem
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key
"""

MEMBEROF = """\
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
"""

CONFIG = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
modulepath {modules}
moduleload back_mdb
{memberof_module}moduleload ppolicy
pidfile {run}/slapd.pid
argsfile {run}/slapd.args
{tls}sizelimit 500

database mdb
maxsize 4294967296
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {data}
index objectClass eq
index entryUUID eq
index modifyTimestamp eq
index uid,mail eq
index member eq
limits dn.exact="{reader}" size={page_limit} size.pr={page_limit} size.prtotal=unlimited
limits dn.exact="{limited}" size={limited_size} size.prtotal={limited_size}
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{reader}" read by dn.exact="{limited}" read by * none

{memberof_overlay}
overlay ppolicy
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SlapdError(RuntimeError):
    pass


class Slapd:
    def __init__(self, workdir: Path, port: int | None = None, page_limit: int = 100,
                 tls: bool = True, memberof: bool = True) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.memberof = memberof  # False: a server without the memberof overlay
        self.page_limit = page_limit
        self.port = port or free_port()
        self.tls_port = free_port()
        self.process: subprocess.Popen | None = None
        self.ldif = self.workdir / "directory.ldif"
        self.conf = self.workdir / "slapd.conf"
        self.data = self.workdir / "data"
        self.log = self.workdir / "slapd.log"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        """By the name on the server's certificate (``localhost``)."""
        return f"ldaps://localhost:{self.tls_port}"

    @property
    def named_url(self) -> str:
        """Plain LDAP by the certificate's name, for StartTLS."""
        return f"ldap://localhost:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server's certificate (for StartTLS / LDAPS)."""
        return self.workdir / "tls" / "ca.pem"

    def load(self, directory: Directory) -> Slapd:
        """Write ``directory`` as LDIF, slapadd it and start the server."""
        with self.ldif.open("w", encoding="utf-8") as out:
            directory.write_ldif(out, memberof=self.memberof)
        self.reset()
        return self

    def reset(self) -> None:
        """Stop, put the loaded LDIF back as it was, start again (same port)."""
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True)
        if self.tls and not self.ca_file.exists():
            certificates.write(self.ca_file.parent)
        self.conf.write_text(CONFIG.format(
            schema=SCHEMA, modules=MODULES, run=self.workdir, data=self.data, suffix=SUFFIX,
            tls=TLS.format(folder=self.ca_file.parent) if self.tls else "",
            memberof_module="moduleload memberof\n" if self.memberof else "",
            memberof_overlay=MEMBEROF if self.memberof else "",
            root_dn=ROOT_DN, root_password=ROOT_PASSWORD, reader=READER_DN,
            limited=LIMITED_DN, limited_size=LIMITED_SIZE, page_limit=self.page_limit))
        done = subprocess.run([SLAPADD, "-q", "-f", str(self.conf), "-l", str(self.ldif)],  # noqa: S603
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise SlapdError(f"slapadd failed: {done.stderr[-2000:]}")
        self.start()

    def start(self) -> None:
        if self.process is not None:
            return
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [SLAPD, "-d", "0", "-f", str(self.conf), "-h",
                 f"{self.url}/ ldaps://127.0.0.1:{self.tls_port}/" if self.tls
                 else f"{self.url}/"],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise SlapdError(f"slapd exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SlapdError("slapd did not listen within 15 s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def modify(self, ldif: str, *, manage_dsa_it: bool = False) -> None:
        """Apply LDIF changes (changetype: modify / add / delete) as the root
        DN; ``manage_dsa_it`` to add or change a referral object itself."""
        done = subprocess.run(  # noqa: S603
            [LDAPMODIFY, "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD,
             *(["-M"] if manage_dsa_it else [])],
            input=ldif, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SlapdError(f"ldapmodify failed: {done.stderr[-2000:]}")
