"""`manage.py audit <verify|checkpoint|init-key|rotate-key|keys|export>`: operating the audit log.

Exit status: 0 on success; 1 when verification fails (the message names the first failing index and
the reason); 2 on a usage or configuration error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.common.errors import ApplicationError

from ... import integrity, selectors, services, signing
from ...verifier import VerificationError, parse_vkey


class Command(BaseCommand):
    help = "Operate the append-only audit log: verify it, sign checkpoints, manage keys, export evidence."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)

        verify = sub.add_parser(
            "verify",
            help="Recompute every leaf, the tree, every checkpoint signature and every witness cosignature.",
        )
        verify.add_argument(
            "--checkpoint", action="append", default=[], type=Path, metavar="FILE",
            help="A signed checkpoint kept outside the database; the log must extend it (repeatable).",
        )
        verify.add_argument(
            "--key", action="append", default=[], metavar="VKEY",
            help="Pinned verifier key for --checkpoint files (default: the keys in the database).",
        )

        sub.add_parser("checkpoint", help="Sign a checkpoint now if the log grew; print the signed note.")

        init_key = sub.add_parser("init-key", help="Generate the signing key file (0600); refuses to overwrite.")
        init_key.add_argument("--key-file", type=Path, default=None)
        init_key.add_argument("--name", default=None, help="Key name (default: DOCKET_AUDIT_ORIGIN).")

        rotate = sub.add_parser("rotate-key", help="Make a new key current; the old one stays published.")
        rotate.add_argument("--key-file", type=Path, default=None)
        rotate.add_argument("--name", default=None, help="Key name (default: DOCKET_AUDIT_ORIGIN).")
        rotate.add_argument("--actor", default=None, help="Username of the administrator rotating (default: system).")

        sub.add_parser("keys", help="Print every verifier key with its validity window.")

        export = sub.add_parser("export", help="Write an evidence pack (see docs/evidence-pack.md).")
        export.add_argument("destination", type=Path)
        export.add_argument("--start", type=int, default=None)
        export.add_argument("--end", type=int, default=None)
        export.add_argument("--subject-type", default=None)
        export.add_argument("--subject-id", default=None)

    def handle(self, *args, subcommand, **options):
        handler = getattr(self, "handle_" + subcommand.replace("-", "_"))
        try:
            handler(**options)
        except (ApplicationError, services.AuditError, signing.SigningKeyError) as exc:
            raise CommandError(str(exc), returncode=2) from exc

    def handle_verify(self, *, checkpoint, key, **options):
        try:
            notes = [path.read_text(encoding="utf-8") for path in checkpoint]
            keys = [parse_vkey(text) for text in key] or None
            witness_keys = signing.load_witness_keys()
        except (OSError, UnicodeDecodeError, VerificationError, signing.SigningKeyError) as exc:
            raise CommandError(str(exc), returncode=2) from exc
        try:
            report = integrity.verify_log(
                trusted_checkpoints=notes, trusted_keys=keys, witness_keys=witness_keys,
                progress=lambda n: self.stderr.write(f"… {n} entries verified"),
            )
        except VerificationError as exc:
            where = f"first failing index {exc.index}: " if exc.index is not None else ""
            self.stderr.write(f"FAILED: {where}{exc.reason}")
            sys.exit(1)
        witnessed = ""
        if report.cosignatures_verified or report.cosignatures_unchecked:
            witnessed = f"; {report.cosignatures_verified} witness cosignatures verified"
            if report.cosignatures_unchecked:
                witnessed += (f", {report.cosignatures_unchecked} not checked (their witness has no key in "
                              "DOCKET_AUDIT_WITNESS_KEYS)")
        self.stdout.write(
            f"OK: {report.entries} entries, {report.tree_nodes} tree nodes, {report.checkpoints} checkpoints "
            f"(latest covers {report.latest_checkpoint_size}), root {report.root_hash.hex()}{witnessed}"
        )

    def handle_checkpoint(self, **options):
        checkpoint = services.checkpoint_sign(actor=services.SYSTEM)
        self.stdout.write(checkpoint.note, ending="")

    def _key_file(self, key_file: Path | None) -> Path:
        if key_file is not None:
            return key_file
        if settings.DOCKET_AUDIT_SIGNING_KEY:
            raise CommandError(
                "DOCKET_AUDIT_SIGNING_KEY is set, so the key does not live in a file: pass --key-file and then "
                "put the file's content into the environment variable.", returncode=2,
            )
        return Path(settings.DOCKET_AUDIT_SIGNING_KEY_FILE)

    def handle_init_key(self, *, key_file, name, **options):
        path = self._key_file(key_file)
        signer = signing.generate_signer(name or settings.DOCKET_AUDIT_ORIGIN)
        signing.write_signer_key_file(path, signer)
        self.stdout.write(f"Wrote {path} (mode 0600). Verifier key:\n{signer.vkey}")

    def handle_rotate_key(self, *, key_file, name, actor, **options):
        path = self._key_file(key_file)
        acting = services.SYSTEM
        if actor:
            from apps.accounts.models import User

            acting = User.objects.filter(username=actor).first()
            if acting is None:
                raise CommandError(f"No user {actor!r}.", returncode=2)
        new_signer = signing.generate_signer(name or settings.DOCKET_AUDIT_ORIGIN)
        staged = path.with_name(path.name + ".new")
        # The new key is on disk before the database names it current, so a crash cannot lose it.
        signing.write_signer_key_file(staged, new_signer)
        try:
            services.signing_key_rotate(actor=acting, new_signer=new_signer)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        os.replace(staged, path)
        self.stdout.write(f"Rotated: {path} now holds key {new_signer.key_id.hex()}. Verifier key:\n{new_signer.vkey}")
        if settings.DOCKET_AUDIT_SIGNING_KEY:
            self.stdout.write("Put the new key file's content into DOCKET_AUDIT_SIGNING_KEY and restart.")

    def handle_keys(self, **options):
        for key in selectors.signing_keys():
            until = key.valid_until.isoformat() if key.valid_until else "current"
            self.stdout.write(f"{key.vkey}\t{key.valid_from.isoformat()}\t{until}")

    def handle_export(self, *, destination, start, end, subject_type, subject_id, **options):
        from ...evidence import export_pack

        summary = export_pack(
            destination=destination, start=start, end=end, subject_type=subject_type, subject_id=subject_id
        )
        self.stdout.write(str(summary))
