# Spree marketplace -> Larder: seller status, inventory and payment changes as events on the
# Larder event stream (a Redis stream read by createRedisEventSource, docs/events.md).
# Needs the redis gem (Debian: ruby-redis). In the Spree app, call these from the models'
# after_commit callbacks, never before the commit: a reader could cache the old row again
# between the invalidation and the commit.
require "json"
require "redis"
require "securerandom"

module LarderSellerEvents
  STREAM = ENV.fetch("LARDER_STREAM", "larder:events")

  def self.redis
    @redis ||= Redis.new(url: ENV.fetch("REDIS_URL"))
  end

  # One stream entry per event: the JSON envelope in the field "event". A retry of the same
  # change must reuse its id, so Larder drops the second copy as a duplicate.
  def self.publish(type, tenant:, data:, id: SecureRandom.uuid)
    envelope = { id: id, type: type, tenant: tenant, data: data, at: (Time.now.to_f * 1000).to_i }
    redis.xadd(STREAM, { event: envelope.to_json })
  end

  # A ban, suspension or vacation changes which sellers the variants show.
  def self.status_changed(tenant:, seller_id:, variant_ids: [], id: SecureRandom.uuid)
    publish("seller.status_changed", tenant: tenant, id: id,
                                     data: { sellerId: seller_id.to_s, variantIds: variant_ids.map(&:to_s) })
  end

  # New listings or removals.
  def self.inventory_updated(tenant:, seller_id:, variant_ids: [], id: SecureRandom.uuid)
    publish("seller.inventory_updated", tenant: tenant, id: id,
                                        data: { sellerId: seller_id.to_s, variantIds: variant_ids.map(&:to_s) })
  end

  # The fee payment status decides whether the seller's offers are listed.
  def self.payment_status_changed(tenant:, seller_id:, id: SecureRandom.uuid)
    publish("seller.payment_status_changed", tenant: tenant, id: id, data: { sellerId: seller_id.to_s })
  end
end

# In Spree (the marketplace's vendor model):
#   after_commit :publish_larder_status, if: :saved_change_to_state?
#   def publish_larder_status
#     LarderSellerEvents.status_changed(tenant: Spree::Store.current.code, seller_id: id,
#                                       variant_ids: variants.ids)
#   end
