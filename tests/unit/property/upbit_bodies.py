"""Realistic Upbit response bodies, written by hand from the shapes in upbit-api.md §2-§3 and §6.

Quotation numbers are JSON numbers, exchange amounts JSON strings, exactly as the API sends them.
"""

from __future__ import annotations

MARKETS = (
    '[{"market":"KRW-BTC","korean_name":"비트코인","english_name":"Bitcoin",'
    '"market_event":{"warning":false,"caution":{"PRICE_FLUCTUATIONS":false,'
    '"TRADING_VOLUME_SOARING":false,"DEPOSIT_AMOUNT_SOARING":false,'
    '"GLOBAL_PRICE_DIFFERENCES":false,"CONCENTRATION_OF_SMALL_ACCOUNTS":false}}}]'
)
MINUTE_CANDLES = (
    '[{"market":"KRW-BTC","candle_date_time_utc":"2026-03-11T14:41:00",'
    '"candle_date_time_kst":"2026-03-11T23:41:00","opening_price":103460000.0,"high_price":103500000.0,'
    '"low_price":103400000.0,"trade_price":103450000.0,"timestamp":1773240119132,'
    '"candle_acc_trade_price":51723000.5,"candle_acc_trade_volume":0.5,"unit":1},'
    '{"market":"KRW-BTC","candle_date_time_utc":"2026-03-11T14:40:00",'
    '"candle_date_time_kst":"2026-03-11T23:40:00","opening_price":103600000.0,"high_price":103600000.0,'
    '"low_price":103425000.0,"trade_price":103460000.0,"timestamp":1773240059132,'
    '"candle_acc_trade_price":164899503.14206,"candle_acc_trade_volume":1.5933512,"unit":1}]'
)
DAY_CANDLES = (
    '[{"market":"KRW-BTC","candle_date_time_utc":"2026-03-11T00:00:00",'
    '"candle_date_time_kst":"2026-03-11T09:00:00","opening_price":102417000.0,"high_price":103988000.0,'
    '"low_price":101150000.0,"trade_price":103460000.0,"timestamp":1773240059132,'
    '"candle_acc_trade_price":104890599315.22821,"candle_acc_trade_volume":1024.30999241,'
    '"prev_closing_price":102417000.0,"change_price":1043000.0,"change_rate":0.0101838562}]'
)
TICKER = (
    '[{"market":"KRW-BTC","trade_date":"20260311","trade_time":"144058","trade_date_kst":"20260311",'
    '"trade_time_kst":"234058","trade_timestamp":1773240058930,"opening_price":102417000.0,'
    '"high_price":103988000.0,"low_price":101150000.0,"trade_price":103493000.0,'
    '"prev_closing_price":102417000.0,"change":"RISE","change_price":1076000.0,"change_rate":0.0105060683,'
    '"signed_change_price":1076000.0,"signed_change_rate":0.0105060683,"trade_volume":0.00094678,'
    '"acc_trade_price":104890185475.22821,"acc_trade_price_24h":162997300132.123,'
    '"acc_trade_volume":1024.30599241,"acc_trade_volume_24h":1587.73606087,'
    '"highest_52_week_price":179869000.0,"highest_52_week_date":"2025-10-09",'
    '"lowest_52_week_price":89000000.0,"lowest_52_week_date":"2026-02-06","timestamp":1773240058973}]'
)
ORDERBOOK = (
    '[{"market":"KRW-BTC","timestamp":1773240059027,"total_ask_size":4.17884094,"total_bid_size":2.29686376,'
    '"orderbook_units":[{"bid_price":103460000,"bid_size":0.004,"ask_price":103493000,"ask_size":0.04910155},'
    '{"bid_price":103438000,"bid_size":0.00483381,"ask_price":103507000,"ask_size":0.06146}],"level":0}]'
)
INSTRUMENTS = (
    '[{"market":"KRW-BTC","quote_currency":"KRW","tick_size":"1000",'
    '"supported_levels":["0","10000","100000","1000000","10000000","100000000"]}]'
)
ACCOUNTS = (
    '[{"currency":"KRW","balance":"50000.47088291","locked":"0","avg_buy_price":"0",'
    '"avg_buy_price_modified":true,"unit_currency":"KRW"},'
    '{"currency":"BTC","balance":"0.00009713","locked":"0","avg_buy_price":"102945000",'
    '"avg_buy_price_modified":false,"unit_currency":"KRW"}]'
)
ORDER_CHANCE = (
    '{"bid_fee":"0.0005","ask_fee":"0.0005","maker_bid_fee":"0.0005","maker_ask_fee":"0.0005",'
    '"market":{"id":"KRW-BTC","name":"BTC/KRW","order_types":["limit"],"order_sides":["ask","bid"],'
    '"bid_types":["best_fok","best_ioc","limit","limit_fok","limit_ioc","price"],'
    '"ask_types":["best_fok","best_ioc","limit","limit_fok","limit_ioc","market"],'
    '"bid":{"currency":"KRW","min_total":"5000"},"ask":{"currency":"BTC","min_total":"5000"},'
    '"max_total":"1000000000","state":"active"},'
    '"bid_account":{"currency":"KRW","balance":"50000.47088291","locked":"0","avg_buy_price":"0",'
    '"avg_buy_price_modified":true,"unit_currency":"KRW"},'
    '"ask_account":{"currency":"BTC","balance":"0","locked":"0","avg_buy_price":"0",'
    '"avg_buy_price_modified":false,"unit_currency":"KRW"}}'
)
ORDER_CREATED = (
    '{"uuid":"fce8ffa4-6a1b-4bd5-9d7a-2c8f1e0b3a11","side":"bid","ord_type":"price","price":"10000",'
    '"state":"wait","market":"KRW-BTC","created_at":"2026-03-22T21:47:08+09:00","reserved_fee":"5",'
    '"remaining_fee":"5","paid_fee":"0","locked":"10005","prevented_locked":"0","executed_volume":"0",'
    '"trades_count":0,"identifier":"tradebot-7f1e"}'
)
ORDER_WITH_TRADES = (
    '{"uuid":"72091b0f-0c1d-4e55-8f0a-5b6c7d8e9f00","side":"ask","ord_type":"market","state":"done",'
    '"market":"KRW-BTC","created_at":"2026-03-22T21:47:09+09:00","volume":"0.00009713",'
    '"remaining_volume":"0","prevented_volume":"0","reserved_fee":"0","remaining_fee":"0",'
    '"paid_fee":"4.99743563","locked":"0","prevented_locked":"0","executed_volume":"0.00009713",'
    '"trades_count":1,"trades":[{"market":"KRW-BTC","uuid":"5990f027-1111-2222-3333-444455556666",'
    '"price":"102902000","volume":"0.00009713","funds":"9994.87126","trend":"down",'
    '"created_at":"2026-03-22T21:47:09+09:00","side":"ask"}]}'
)
ORDERS_LIST = (
    '[{"uuid":"82fe9b72-eb0f-462b-8e0e-e74ad844acea","side":"bid","ord_type":"limit","price":"10000000",'
    '"state":"wait","market":"KRW-BTC","created_at":"2026-03-22T21:42:22+09:00","volume":"0.0005",'
    '"remaining_volume":"0.0005","prevented_volume":"0","reserved_fee":"2.5","remaining_fee":"2.5",'
    '"paid_fee":"0","locked":"5002.5","prevented_locked":"0","executed_volume":"0","executed_funds":"0",'
    '"trades_count":0}]'
)
ERROR_EXCHANGE = '{"error":{"name":"insufficient_funds_bid","message":"주문가능한 금액(KRW)이 부족합니다."}}'
ERROR_QUOTATION = (
    '{"error":{"name":400,"message":"Missing request parameter error. Check the required parameters!"}}'
)
ERROR_NOT_FOUND = '{"error":{"name":"order_not_found","message":"주문을 찾지 못했습니다."}}'
THROTTLED_TEXT = "Too many API requests."
MAINTENANCE_HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"
