# A change monitor -> Larder over Redis pub/sub: each change is PUBLISHed as one JSON event
# envelope on the channel seller_changes, which createPubSubEventSource reads (docs/events.md).
# Pub/sub is fire-and-forget: a message sent while Larder is disconnected is lost, and Larder
# then distrusts its in-process cache instead. Prefer the event stream (spree_seller_events.rb)
# where you can; this keeps a monitor that already publishes working.
require "json"
require "redis"
require "securerandom"

module SellerChangeMonitor
  CHANNEL = ENV.fetch("LARDER_CHANNEL", "seller_changes")

  def self.redis
    @redis ||= Redis.new(url: ENV.fetch("REDIS_URL"))
  end

  # Returns how many subscribers got the message (0: nobody was listening).
  def self.announce(type, tenant:, data:)
    redis.publish(CHANNEL, { id: SecureRandom.uuid, type: type, tenant: tenant, data: data }.to_json)
  end

  def self.seller_status_changed(tenant:, seller_id:, variant_ids: [])
    announce("seller.status_changed", tenant: tenant, data: { sellerId: seller_id.to_s, variantIds: variant_ids.map(&:to_s) })
  end
end
