-- A hand-checkable fixture: five users, six closed sessions, one open
-- session, two late events. The expected mart rows next to this file were
-- computed by hand from these rows (see README.md), not by the models.
--
-- Days (UTC): 2026-03-01 is a Sunday (ISO week 9); 03-02..03-04 are
-- Monday..Wednesday of ISO week 10. Nothing happens on 03-03.

INSERT INTO events (event_id, event_type, user_id, event_time, product_id, price, quantity, revenue,
                    client_session_id, device, country, category, referrer, is_late,
                    stream_id, kafka_partition, kafka_offset, ingested_at) VALUES
-- alice, session 1: view, cart, purchase of 2 × 17.50
('e01', 'page_view',   'alice', '2026-03-01 10:00:00', 'p1', NULL,  1, 0.00,  'c-a1', 'desktop', 'FR', 'books', 'google', false, 1, 0, 0,  '2026-03-01 10:00:01'),
('e02', 'add_to_cart', 'alice', '2026-03-01 10:05:00', 'p1', 17.50, 2, 0.00,  'c-a1', 'desktop', 'FR', 'books', NULL,     false, 1, 0, 1,  '2026-03-01 10:05:01'),
('e03', 'purchase',    'alice', '2026-03-01 10:10:30', 'p1', 17.50, 2, 35.00, 'c-a1', 'desktop', 'FR', 'books', NULL,     false, 1, 0, 2,  '2026-03-01 10:10:31'),
-- bob, session 1: across midnight (and across an hour boundary)
('e04', 'page_view',   'bob',   '2026-03-01 23:50:00', NULL, NULL,  1, 0.00,  NULL,   'mobile',  'US', NULL,    'direct', false, 1, 1, 0,  '2026-03-01 23:50:01'),
('e05', 'add_to_cart', 'bob',   '2026-03-02 00:15:00', 'p2', 15.50, 1, 0.00,  NULL,   'mobile',  'US', 'toys',  NULL,     false, 1, 1, 1,  '2026-03-02 00:15:01'),
-- chloe, session 1: 08:55 to 10:35, whole hour 09 in between; a purchase
-- without add_to_cart; some events without device or country
('e06', 'page_view',   'chloe', '2026-03-02 08:55:00', NULL, NULL,  1, 0.00,  NULL,   'tablet',  'DE', NULL,     NULL,    false, 1, 0, 3,  '2026-03-02 08:55:01'),
('e07', 'page_view',   'chloe', '2026-03-02 09:20:00', 'p3', NULL,  1, 0.00,  NULL,   NULL,      NULL, 'garden', NULL,    false, 1, 0, 4,  '2026-03-02 09:20:01'),
('e08', 'page_view',   'chloe', '2026-03-02 09:45:00', 'p3', NULL,  1, 0.00,  NULL,   'mobile',  'DE', 'garden', NULL,    false, 1, 0, 5,  '2026-03-02 09:45:01'),
('e09', 'purchase',    'chloe', '2026-03-02 10:10:00', 'p3', 9.99,  3, 29.97, NULL,   NULL,      NULL, 'garden', NULL,    false, 1, 0, 6,  '2026-03-02 10:10:01'),
('e10', 'page_view',   'chloe', '2026-03-02 10:35:00', NULL, NULL,  1, 0.00,  NULL,   NULL,      NULL, NULL,     NULL,    false, 1, 0, 7,  '2026-03-02 10:35:01'),
-- alice: a late purchase of 5.00 on 03-01 (in no session, still revenue)
('e11', 'purchase',    'alice', '2026-03-01 11:00:00', 'p1', 5.00,  1, 5.00,  NULL,   'desktop', 'FR', 'books', NULL,     true,  1, 0, 8,  '2026-03-02 10:40:00'),
-- alice, session 2 (on mobile now)
('e12', 'page_view',   'alice', '2026-03-04 12:00:00', NULL, NULL,  1, 0.00,  NULL,   'mobile',  'FR', NULL,    NULL,     false, 1, 0, 9,  '2026-03-04 12:00:01'),
('e13', 'purchase',    'alice', '2026-03-04 12:00:45', 'p2', 15.50, 2, 31.00, NULL,   'mobile',  'FR', 'toys',  NULL,     false, 1, 0, 10, '2026-03-04 12:00:46'),
-- dave: one late page view, from a country the seed does not know
('e14', 'page_view',   'dave',  '2026-03-04 12:00:30', NULL, NULL,  1, 0.00,  NULL,   'desktop', 'XX', NULL,    NULL,     true,  1, 1, 2,  '2026-03-04 14:00:00'),
-- bob: an on-time event of a session that is still open
('e15', 'page_view',   'bob',   '2026-03-04 23:59:00', NULL, NULL,  1, 0.00,  NULL,   'mobile',  'US', NULL,    NULL,     false, 1, 1, 3,  '2026-03-04 23:59:01'),
-- erin, session 1 (view, cart) and session 2 (a single view)
('e16', 'page_view',   'erin',  '2026-03-04 09:00:00', NULL, NULL,  1, 0.00,  NULL,   'desktop', 'GB', NULL,    NULL,     false, 1, 1, 4,  '2026-03-04 09:00:01'),
('e17', 'add_to_cart', 'erin',  '2026-03-04 09:01:00', 'p1', 20.00, 1, 0.00,  NULL,   'desktop', 'GB', 'books', NULL,     false, 1, 1, 5,  '2026-03-04 09:01:01'),
('e18', 'page_view',   'erin',  '2026-03-04 15:00:00', NULL, NULL,  1, 0.00,  NULL,   'desktop', 'GB', NULL,    NULL,     false, 1, 1, 6,  '2026-03-04 15:00:01');

INSERT INTO sessions (session_id, user_id, session_start, session_end, event_count, page_views, add_to_carts,
                      purchases, revenue, stream_id, kafka_partition, closed_at) VALUES
('sess-alice-1', 'alice', '2026-03-01 10:00:00', '2026-03-01 10:10:30', 3, 1, 1, 1,     35.00, 1, 0, '2026-03-01 10:41:00'),
('sess-bob-1',   'bob',   '2026-03-01 23:50:00', '2026-03-02 00:15:00', 2, 1, 1, 0,     0.00,  1, 1, '2026-03-02 00:46:00'),
('sess-chloe-1', 'chloe', '2026-03-02 08:55:00', '2026-03-02 10:35:00', 5, 4, 0, 1,     29.97, 1, 0, '2026-03-02 11:06:00'),
('sess-erin-1',  'erin',  '2026-03-04 09:00:00', '2026-03-04 09:01:00', 2, 1, 1, 0,     0.00,  1, 1, '2026-03-04 09:32:00'),
('sess-alice-2', 'alice', '2026-03-04 12:00:00', '2026-03-04 12:00:45', 2, 1, 0, 1,     31.00, 1, 0, '2026-03-04 12:31:00'),
('sess-erin-2',  'erin',  '2026-03-04 15:00:00', '2026-03-04 15:00:00', 1, 1, 0, 0,     0.00,  1, 1, '2026-03-04 15:31:00');
