"""The console's auth hooks page: what each hook is configured with and how its calls went
(report), and the test events operators send to check a hook (sample_events)."""
