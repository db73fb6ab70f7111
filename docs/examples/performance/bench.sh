oms bench --quick                                                    # SQLite only, < 1 minute
oms bench --postgres "$OMS_BENCH_POSTGRES_URL" --chart bench.png     # the full run
