"""Odoo -> Larder: a write() mixin that publishes product changes to the Larder event stream
(a Redis stream read by createRedisEventSource, docs/events.md). Needs redis-py (Debian:
python3-redis).

    class ProductTemplate(LarderCacheMixin, models.Model):
        _inherit = "product.template"
"""
import json
import os
import uuid

import redis

_redis = None


def larder_redis():
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _redis


class LarderCacheMixin:
    _larder_stream = os.environ.get("LARDER_STREAM", "larder:events")
    _larder_event = "product.updated"

    def _larder_tenant(self, rec):
        # The company's Larder tenant id (a char field `code` on res.company).
        return rec.company_id.code

    def _larder_data(self, rec):
        return {"productId": rec.id, "categoryIds": [rec.categ_id.id] if rec.categ_id else []}

    def write(self, vals):
        # A category change makes the old listing stale too: publish both sides.
        before = {rec.id: self._larder_data(rec)["categoryIds"] for rec in self}
        result = super().write(vals)
        entries = []
        for rec in self:
            data = self._larder_data(rec)
            data["categoryIds"] = sorted(set(before[rec.id]) | set(data["categoryIds"]))
            # One id per change, made here: a resend of these entries is a duplicate for Larder.
            entries.append({"id": f"odoo:{self._name}:{rec.id}:{uuid.uuid4().hex}", "type": self._larder_event,
                            "tenant": self._larder_tenant(rec), "data": json.dumps(data)})
        # Sent after the commit: an invalidation sent before it could be undone by a reader
        # caching the old row again, and a rollback sends nothing.
        self.env.cr.postcommit.add(lambda: larder_publish(self._larder_stream, entries))
        return result


def larder_publish(stream, entries):
    pipe = larder_redis().pipeline(transaction=False)
    for entry in entries:
        pipe.xadd(stream, entry)
    pipe.execute()
