-- Personal data: the retention job deletes conversations by last activity and LINE events by
-- arrival; erasure finds one customer's conversations by the `id` of their customer metadata
-- (as text, so `42` and `"42"` are one customer) and a LINE user's events and deliveries.
CREATE INDEX conversations_updated_at ON conversations (updated_at);
CREATE INDEX conversations_customer_id ON conversations (CAST(customer ->> 'id' AS TEXT));
CREATE INDEX line_events_received_at ON line_events (received_at);
CREATE INDEX line_events_user ON line_events (user_id);
CREATE INDEX line_deliveries_user ON line_deliveries (user_id);
