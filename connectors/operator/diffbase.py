"""Where kopf keeps what it last handled of a resource: a digest, not the resource.

kopf's own storages keep the whole spec, labels and annotations in an annotation (or in the
status) to tell an update from a resume. Kubernetes holds all of a resource's annotations to
256 KiB, and a valid LoggingPipeline may be larger (`topology.model.MAX_TENANT_BYTES`): a
300 KB spec never became Ready, its annotation refused in a loop. The reconcile never reads
the diff (it reconciles the whole spec), so a digest of what was handled is enough: equal,
nothing changed; different, something did.
"""

from __future__ import annotations

import hashlib
import json

import kopf

DIGEST = "sha256:"


def digest(essence: kopf.BodyEssence) -> str:
    encoded = json.dumps(essence, sort_keys=True, separators=(",", ":")).encode()
    return DIGEST + hashlib.sha256(encoded).hexdigest()


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation storage, keeping a digest of the essence instead of the essence."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        for key in self.make_keys(self.key, body=body):
            stored = body.metadata.annotations.get(key)
            if stored is None:
                continue
            stored = stored.strip()
            if not stored.startswith(DIGEST):  # kept whole by an earlier version
                return super().fetch(body=body)
            current = self.build(body=body)
            # The same digest: what kopf compares is equal. Another: any other essence will do.
            return current if digest(current) == stored else kopf.BodyEssence()
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        for key in self.make_keys(self.key, body=body):
            patch.metadata.annotations[key] = digest(essence)
        self._store_marker(prefix=self.prefix, patch=patch, body=body)
