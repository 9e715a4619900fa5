"""The page's look: its style sheet and the legend of its colours."""

from __future__ import annotations

#: The page's whole style sheet (inlined: the page is self-contained).
CSS = """
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:12px;
color:#222;background:#fff}
h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}
.meta{color:#555;margin:0 0 8px}.empty{font-size:15px;font-weight:bold;margin:12px 0}
.legend span{display:inline-block;margin:0 12px 4px 0}
.legend i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;font-size:12px;margin-bottom:8px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.msg{max-width:760px;overflow-wrap:anywhere}
td.long{max-width:380px;overflow-wrap:anywhere}
svg{display:block;background:#fff;font-family:system-ui,Arial,sans-serif}
svg text{font-size:10px;fill:#333}svg .lt{font-size:11px;fill:#111}svg .lc{font-size:9px;fill:#777}
svg .sec{font-size:11px;font-weight:bold;fill:#444}svg .tick{fill:#555}
svg .grid{stroke:#eee}svg .lanebg{fill:#f2f2f2;fill-opacity:.5}
svg .m:hover{stroke:#000;stroke-width:1.5}
svg .drill{fill:#ff9f1c;fill-opacity:.13;stroke:#ff9f1c;stroke-dasharray:4 3}
svg .dl{fill:#b45f06;font-weight:bold}
.c-term0{fill:#3f8f3f}.c-term1{fill:#2f6f9f}.c-leaderless-long{fill:#d62728;fill-opacity:.45}
.c-leaderless-short{fill:#bbb}.c-overlap{fill:#d62728}
.c-change{fill:#1f5fbf}.c-debounce{fill:#9ecae1}.c-coalesced{fill:#6baed6}
.c-patched,.c-landed{fill:#2ca02c}.c-failed{fill:#d62728}.c-dropped{fill:#9467bd}
.c-pending{fill:#ff7f0e}.c-none,.c-abandoned,.c-lost{fill:#8c564b}.c-other{fill:#7f7f7f}
.c-retry{fill:#ff7f0e}.c-flushed{fill:#7f7f7f}.c-rollout_timeout{fill:#e6550d}
.c-anomaly{fill:#d62728}.c-note{fill:#7b3294}.c-drill_start,.c-drill_end{fill:#ff9f1c}
.c-vacuum{fill:#999}.c-started,.c-stopped{fill:#555}.c-acquired{fill:#2ca02c}
.c-lost{fill:#d62728}.c-released{fill:#999}
.ro{stroke:#2ca02c;stroke-width:1.5}.ro-timeout{stroke:#e6550d;stroke-width:1.5}
"""

#: The legend: a colour class and what it means.
LEGEND = (
    ("c-term0", "leader term (epoch)"),
    ("c-leaderless-long", "no leader (over the gap threshold)"),
    ("c-leaderless-short", "no leader (short)"),
    ("c-overlap", "two leaders at once"),
    ("c-change", "ConfigMap change"),
    ("c-debounce", "debounce window"),
    ("c-patched", "restart planned → patched"),
    ("c-pending", "restart pending"),
    ("c-failed", "failed"),
    ("c-dropped", "dropped"),
    ("c-retry", "retry"),
    ("c-anomaly", "anomaly"),
    ("c-note", "operator note"),
    ("c-drill_start", "drill mark / window"),
)
