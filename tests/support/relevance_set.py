"""A bilingual relevance set for the semantic index: a study vault of canvases and judged queries.

The vault is what a learner who writes in Chinese and English keeps: fourteen canvases on school and
university subjects, some entirely Chinese, some English, some mixed, with text, file, link and group
nodes, the learning colours ("1" red: not understood, "6" purple: partly, "4" green: mastered, "3"
yellow) and a few edges. Each query names the one to three nodes that best answer it; every topic also
holds near misses, so a search that only matches the subject does not score.

Queries come in three languages of intent: ``en`` (English query, English or mixed note), ``zh``
(Chinese query, Chinese or mixed note) and ``cross`` (the query is in one language, the note in the
other). Styles are mixed on purpose: exact rare terms (full text shines), paraphrases that share no
words with the note (vectors shine) and natural questions.

Node and edge ids are derived from the canvas path and a readable key, so they are stable across runs.
Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

Node = dict[str, Any]
Edge = dict[str, Any]
Ref = tuple[str, str]

_WIDTH = 360
_GAP = 60
_COLUMNS = 3
_PAD = 50


def node_id(path: str, key: str) -> str:
    """The deterministic 16-hex-digit id of the node called ``key`` in the canvas at ``path``."""
    return hashlib.sha256(f"{path}#{key}".encode()).hexdigest()[:16]


def _height(text: str) -> int:
    """A card height that fits ``text`` the way Obsidian users size their cards."""
    lines = sum(max(1, math.ceil(len(line) / 26)) for line in text.split("\n"))
    return min(420, max(100, 40 + 28 * lines))


class _Canvas:
    """Lays out one canvas: sections (groups) stacked vertically, cards in rows of three inside each."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.nodes: list[Node] = []
        self.groups: list[Node] = []
        self.edges: list[Edge] = []
        self.keys: set[str] = set()
        self._group: Node | None = None
        self._row: list[Node] = []
        self._y = 0

    def _id(self, key: str) -> str:
        if key in self.keys:
            raise ValueError(f"duplicate node key {key!r} in {self.path}")
        self.keys.add(key)
        return node_id(self.path, key)

    def _close_row(self) -> None:
        if self._row:
            self._y += max(n["height"] for n in self._row) + _GAP
            self._row = []

    def _close_group(self) -> None:
        self._close_row()
        if self._group is not None:
            self._group["height"] = self._y - self._group["y"] - _GAP + _PAD
            self._y += _PAD + _GAP
            self._group = None

    def group(self, key: str, label: str, color: str | None = None) -> None:
        """Start a labelled group; the cards added next are placed inside it."""
        self._close_group()
        g: Node = {"id": self._id(key), "type": "group", "label": label, "x": -_PAD, "y": self._y - _PAD,
                   "width": _COLUMNS * (_WIDTH + _GAP) - _GAP + 2 * _PAD, "height": 0}
        if color:
            g["color"] = color
        self.groups.append(g)
        self._group = g

    def _place(self, key: str, body: dict[str, Any], text_for_size: str, color: str | None) -> None:
        if len(self._row) == _COLUMNS:
            self._close_row()
        n: Node = {"id": self._id(key), **body, "x": len(self._row) * (_WIDTH + _GAP), "y": self._y,
                   "width": _WIDTH, "height": _height(text_for_size)}
        if color:
            n["color"] = color
        self._row.append(n)
        self.nodes.append(n)

    def text(self, key: str, text: str, color: str | None = None) -> None:
        """Add a text card."""
        self._place(key, {"type": "text", "text": text}, text, color)

    def file(self, key: str, file: str, subpath: str | None = None, color: str | None = None) -> None:
        """Add a card embedding a vault file, optionally a heading or block of it."""
        body: dict[str, Any] = {"type": "file", "file": file}
        if subpath:
            body["subpath"] = subpath
        self._place(key, body, "\n" * 8, color)

    def link(self, key: str, url: str, color: str | None = None) -> None:
        """Add a web page card."""
        self._place(key, {"type": "link", "url": url}, "\n" * 6, color)

    def edge(self, a: str, b: str, label: str | None = None) -> None:
        """Connect two cards with an arrow from ``a`` to ``b``, sides chosen from their positions."""
        by_id = {n["id"]: n for n in self.nodes}
        src, dst = by_id[node_id(self.path, a)], by_id[node_id(self.path, b)]
        vertical = abs(dst["y"] - src["y"]) > abs(dst["x"] - src["x"])
        if vertical:
            sides = ("bottom", "top") if dst["y"] > src["y"] else ("top", "bottom")
        else:
            sides = ("right", "left") if dst["x"] >= src["x"] else ("left", "right")
        e: Edge = {"id": node_id(self.path, f"edge:{a}->{b}"), "fromNode": src["id"], "fromSide": sides[0],
                   "toNode": dst["id"], "toSide": sides[1]}
        if label:
            e["label"] = label
        self.edges.append(e)

    def done(self) -> tuple[list[Node], list[Edge]]:
        """The canvas's nodes (groups first, as Obsidian draws them underneath) and edges."""
        self._close_group()
        return self.groups + self.nodes, self.edges


_BUILT: dict[str, _Canvas] = {}


def _canvas(path: str) -> _Canvas:
    c = _Canvas(path)
    _BUILT[path] = c
    return c


# ----------------------------------------------------------------------------------- 生物/细胞呼吸 (zh)

RESP = "生物/细胞呼吸.canvas"
c = _canvas(RESP)
c.text("overview", "# 细胞呼吸总览\n有氧呼吸分三个阶段：糖酵解（细胞质基质）、三羧酸循环（线粒体基质）、氧化磷酸化"
       "（线粒体内膜）。总反应：C6H12O6 + 6O2 → 6CO2 + 6H2O + 能量。")
c.text("mnemonic", "记忆口诀：**糖酵解在质，循环在基质，传递在内膜**。", "3")
c.file("diagram", "attachments/有氧呼吸示意图.png")
c.group("g_glyco", "糖酵解")
c.text("glycolysis", "## 糖酵解\n一分子葡萄糖分解为两分子丙酮酸，净生成 2 ATP 和 2 NADH，整个过程不需要氧气。", "4")
c.text("glyco_invest", "糖酵解前半段是**耗能阶段**：消耗 2 ATP 把葡萄糖磷酸化为果糖-1,6-二磷酸；后半段产生 4 ATP，"
       "所以净得 2 ATP。", "6")
c.text("pfk", "磷酸果糖激酶-1（PFK-1）是糖酵解的限速酶，被 ATP 和柠檬酸抑制、被 AMP 激活——细胞能量充足时"
       "糖酵解自动减速。", "1")
c.group("g_mito", "线粒体中的反应")
c.text("pyruvate_ox", "丙酮酸进入线粒体后，在丙酮酸脱氢酶复合体作用下脱羧生成乙酰辅酶A，同时产生 CO2 和 NADH。")
c.text("tca", "## 三羧酸循环（克雷布斯循环）\n乙酰辅酶A 与草酰乙酸结合生成柠檬酸，每转一圈产生 3 NADH、1 FADH2、"
       "1 GTP 和 2 CO2。", "6")
c.text("tca_where", "三羧酸循环发生在线粒体基质中；它本身不直接消耗氧气，但没有氧气 NAD+ 无法再生，循环也会停下来。",
       "3")
c.text("etc", "## 电子传递链\n位于线粒体内膜，由复合体 I–IV 组成。NADH 和 FADH2 交出电子，电子最终交给氧气生成水。")
c.text("proton_gradient", "电子传递时把 H+ 泵到膜间隙，形成质子梯度（米切尔的化学渗透学说）。", "1")
c.text("atp_synthase", "ATP 合酶像一个旋转马达：H+ 顺浓度梯度流回基质，驱动它把 ADP 和 Pi 合成 ATP。", "6")
c.text("yield", "一分子葡萄糖有氧呼吸大约产生 30–32 个 ATP（旧教材写 36–38，是按 1 NADH = 3 ATP 计算的）。", "3")
c.file("mito_note", "生物/笔记/线粒体结构.md", "#内膜与嵴")
c.group("g_anaerobic", "无氧呼吸与毒理")
c.text("lactic", "## 无氧呼吸\n剧烈运动时肌肉细胞供氧不足，丙酮酸被还原为乳酸，目的是再生 NAD+ 让糖酵解继续产生 ATP。")
c.text("alcohol", "酵母菌在无氧条件下把丙酮酸转化为乙醇和 CO2，这就是酿酒和面包发酵的原理。", "4")
c.text("cyanide", "氰化物与细胞色素 c 氧化酶（复合体 IV）结合，阻断电子传给氧气，细胞很快就无法产生 ATP。", "1")
c.text("uncoupler", "解偶联剂（如 2,4-二硝基苯酚）让 H+ 绕过 ATP 合酶漏回基质，能量以热的形式散失——"
       "棕色脂肪产热也是这个道理。", "1")
c.text("question", "❓ 为什么说氧气是电子传递链的“最终电子受体”？如果没有氧会怎样？", "1")
c.link("wiki", "https://zh.wikipedia.org/wiki/细胞呼吸")
c.edge("glycolysis", "pyruvate_ox", "丙酮酸")
c.edge("pyruvate_ox", "tca", "乙酰辅酶A")
c.edge("tca", "etc", "NADH, FADH2")
c.edge("proton_gradient", "atp_synthase")
c.edge("glycolysis", "lactic", "缺氧时")
c.edge("cyanide", "etc", "阻断")

# --------------------------------------------------------------------------- Biology/Photosynthesis (en)

PHOTO = "Biology/Photosynthesis.canvas"
c = _canvas(PHOTO)
c.text("overview", "# Photosynthesis\n6CO2 + 6H2O + light → C6H12O6 + 6O2. Two stages: the light-dependent reactions "
       "in the thylakoid membranes and the Calvin cycle in the stroma.")
c.text("compare", "Photosynthesis vs respiration: both use an electron transport chain and ATP synthase, but "
       "photosynthesis stores energy in glucose while respiration releases it.", "3")
c.link("khan", "https://www.khanacademy.org/science/biology/photosynthesis-in-plants")
c.group("g_light", "Light reactions")
c.text("light_rxn", "## Light-dependent reactions\nPhotosystem II splits water (photolysis), releasing O2; excited "
       "electrons flow through an electron transport chain to Photosystem I, producing ATP and NADPH.", "6")
c.text("photolysis", "The oxygen given off comes from water, not from CO2 — shown by labelling water with the ¹⁸O "
       "isotope (Ruben & Kamen, 1941).", "3")
c.text("chemiosmosis", "In chloroplasts, protons are pumped into the thylakoid lumen; ATP synthase makes ATP as they "
       "flow back out into the stroma (photophosphorylation).", "1")
c.text("pigments", "Chlorophyll a and b absorb mostly red and blue light and reflect green; carotenoids widen the "
       "absorbed spectrum and protect against excess light.")
c.text("autumn", "Why do leaves turn yellow in autumn? Chlorophyll breaks down first, revealing the carotenoids that "
       "were there all along.", "3")
c.group("g_fix", "Carbon fixation")
c.text("calvin", "## Calvin cycle\nRuBisCO fixes CO2 onto ribulose-1,5-bisphosphate (RuBP); ATP and NADPH from the "
       "light reactions reduce 3-PGA to G3P, some of which leaves the cycle to build glucose.", "6")
c.text("rubisco", "RuBisCO is probably the most abundant protein on Earth, but it is slow and also grabs O2, wasting "
       "energy in **photorespiration**.", "1")
c.text("c4", "C4 plants (maize, sugarcane) first capture CO2 with PEP carboxylase in mesophyll cells, then release it "
       "around RuBisCO in bundle-sheath cells, which suppresses photorespiration.", "1")
c.text("cam", "CAM plants (cacti, pineapple) open their stomata at night and store CO2 as malic acid, so they lose "
       "less water in hot deserts.", "4")
c.text("limiting", "Limiting factors: light intensity, CO2 concentration and temperature. The rate is set by whichever "
       "is in shortest supply (Blackman).", "4")
c.file("lab", "Biology/Lab reports/leaf disc assay.md", "#Results")
c.edge("light_rxn", "calvin", "ATP + NADPH")
c.edge("calvin", "rubisco")
c.edge("rubisco", "c4", "workaround")
c.edge("light_rxn", "photolysis")

# -------------------------------------------------------------------------------- Biology/Enzymes (en)

ENZ = "Biology/Enzymes.canvas"
c = _canvas(ENZ)
c.text("overview", "# Enzymes\nBiological catalysts (mostly proteins) that lower the activation energy of a reaction "
       "without being used up. They do not change ΔG or where the equilibrium lies.")
c.text("active_site", "The substrate binds the active site. Lock-and-key (Fischer) vs **induced fit** (Koshland): the "
       "active site changes shape as the substrate binds.", "4")
c.link("wiki", "https://en.wikipedia.org/wiki/Enzyme_kinetics")
c.group("g_kinetics", "Kinetics")
c.text("mm", "## Michaelis-Menten kinetics\nv = Vmax[S] / (Km + [S]). Km is the substrate concentration at which "
       "v = Vmax/2; a small Km means the enzyme binds its substrate tightly.", "6")
c.text("lineweaver", "Lineweaver-Burk plot: 1/v against 1/[S] gives a straight line with slope Km/Vmax, "
       "y-intercept 1/Vmax and x-intercept −1/Km.", "1")
c.text("kcat", "kcat (turnover number) = Vmax/[E]total: how many substrate molecules one enzyme converts per second. "
       "kcat/Km measures catalytic efficiency.", "1")
c.file("worksheet", "Biology/Enzymes/kinetics worksheet.pdf")
c.group("g_inhibition", "Inhibition")
c.text("competitive", "Competitive inhibitors bind the active site: Km goes up, Vmax stays the same — enough "
       "substrate outcompetes them. Example: methotrexate on dihydrofolate reductase.", "6")
c.text("noncompetitive", "Non-competitive inhibitors bind elsewhere (an allosteric site): Vmax goes down, Km is "
       "unchanged. Adding more substrate does not help.", "1")
c.text("irreversible", "Irreversible inhibitors bind covalently. Aspirin acetylates a serine in cyclooxygenase (COX), "
       "so that enzyme stays off until the cell makes new enzyme.", "3")
c.text("question", "❓ Why does a competitive inhibitor leave Vmax unchanged? Explain it with the double-reciprocal "
       "plot.", "1")
c.group("g_regulation", "Regulation")
c.text("allosteric", "Allosteric enzymes give a sigmoidal v–[S] curve instead of a hyperbola; feedback inhibition by "
       "the end product of a pathway is the classic example.", "6")
c.text("temp_ph", "Each enzyme has an optimum temperature and pH. Pepsin works best around pH 2 in the stomach, "
       "trypsin around pH 8 in the small intestine. Too much heat denatures the protein.", "4")
c.text("cofactors", "Cofactors are non-protein helpers: metal ions (Zn²⁺, Mg²⁺) or organic coenzymes such as NAD⁺ "
       "and FAD, many of which come from B vitamins.", "3")
c.text("zymogen", "Zymogens are inactive precursors (pepsinogen, trypsinogen) switched on by cleavage, so digestive "
       "enzymes don't digest the cells that make them.")
c.edge("mm", "lineweaver", "linearise")
c.edge("mm", "kcat")
c.edge("competitive", "question")
c.edge("competitive", "noncompetitive", "compare")

# -------------------------------------------------------------------- 数学/微积分/极限与导数 (mixed)

CALC = "数学/微积分/极限与导数.canvas"
c = _canvas(CALC)
c.group("g_limits", "极限 Limits")
c.text("limit", "# 极限 Limits\nlim_{x→a} f(x) = L：x 足够接近 a 时，f(x) 可以任意接近 L。")
c.text("epsilon_delta", "ε-δ 定义：对任意 ε>0，存在 δ>0，使 0<|x−a|<δ 时 |f(x)−L|<ε。It's a game: you pick ε, "
       "I must find δ.", "1")
c.text("squeeze", "夹逼定理 Squeeze theorem：若 g(x) ≤ f(x) ≤ h(x) 且 g、h 的极限都是 L，则 f 的极限也是 L。"
       "经典例子 lim sin x / x = 1。", "6")
c.text("lhopital", "洛必达法则 L'Hôpital's rule：0/0 或 ∞/∞ 型时，lim f/g = lim f'/g'（前提是后者存在）。"
       "不是不定式时不能用！", "4")
c.text("continuity", "连续 continuity：f(a) 有定义、极限存在且等于 f(a)。Three conditions, all needed.", "4")
c.text("e_limit", "重要极限：lim (1+1/n)^n = e ≈ 2.71828，可以理解为复利无限次结算的极限。", "3")
c.text("sinx_question", "❓ 为什么 sin x / x 在 x→0 时的极限是 1？能不能不用洛必达？", "1")
c.group("g_derivatives", "导数 Derivatives")
c.text("derivative", "## 导数 Derivative\nf'(x) = lim_{h→0} [f(x+h) − f(x)] / h，几何意义是切线斜率，物理意义是"
       "瞬时变化率。", "4")
c.text("chain", "链式法则 Chain rule: (f∘g)'(x) = f'(g(x))·g'(x)。例：d/dx sin(x²) = 2x·cos(x²)。", "6")
c.text("product", "乘积法则：(uv)' = u'v + uv'；商法则：(u/v)' = (u'v − uv')/v²。", "4")
c.text("implicit", "隐函数求导 implicit differentiation：对 x²+y²=1 两边对 x 求导，2x + 2y·y' = 0，得 y' = −x/y。",
       "1")
c.text("diff_cont", "可导一定连续，连续不一定可导：|x| 在 0 处连续但不可导（尖点 corner）。", "3")
c.file("exercises", "数学/微积分/习题/第二章 导数.pdf")
c.group("g_applications", "应用 Applications")
c.text("mvt", "拉格朗日中值定理 Mean value theorem：f 在 [a,b] 上连续、在 (a,b) 内可导，则存在 c 使 "
       "f'(c) = (f(b)−f(a))/(b−a)。", "1")
c.text("taylor", "泰勒展开 Taylor series：f(x) = Σ f⁽ⁿ⁾(a)(x−a)ⁿ/n!。例如 e^x = 1 + x + x²/2! + …", "6")
c.text("extrema", "求极值：令 f'(x)=0 找驻点，再用二阶导判断：f''>0 为极小值，f''<0 为极大值。", "4")
c.text("related_rates", "Related rates 相关变化率：气球半径以 2 cm/s 增长，V=4/3πr³，所以 dV/dt = 4πr²·dr/dt。", "1")
c.link("3b1b", "https://www.3blue1brown.com/topics/calculus")
c.edge("limit", "continuity")
c.edge("limit", "derivative", "定义导数")
c.edge("squeeze", "sinx_question")
c.edge("derivative", "diff_cont")
c.edge("chain", "related_rates", "用到")

# ------------------------------------------------------------------------------ Math/Linear Algebra (en)

LA = "Math/Linear Algebra.canvas"
c = _canvas(LA)
c.text("overview", "# Linear Algebra\nVectors, matrices and linear maps. Key idea: a matrix is a linear "
       "transformation; its columns are where the basis vectors land.")
c.link("3b1b", "https://www.youtube.com/playlist?list=PLZHQObOWTQDPD3MizzM2xVFitgF8hE_ab")
c.file("strang", "Math/Linear Algebra/Strang lecture notes.pdf", "#page=42")
c.group("g_foundations", "Foundations")
c.text("span", "The span of a set of vectors is every linear combination of them. Vectors are linearly independent if "
       "none of them is a combination of the others.", "4")
c.text("basis", "A basis is a linearly independent spanning set; every basis of a space has the same number of "
       "vectors — the dimension.", "4")
c.text("matmul", "Matrix multiplication is composition of linear maps: (AB)x = A(Bx). It is associative but not "
       "commutative: AB ≠ BA in general.", "6")
c.text("gaussian", "Gaussian elimination: row-reduce [A | b] to echelon form, then back-substitute. The pivot columns "
       "tell you the rank.", "4")
c.text("rank_nullity", "Rank–nullity theorem: for an m×n matrix A, rank(A) + dim(null(A)) = n.", "1")
c.text("det", "The determinant is the factor by which a linear map scales areas (volumes). det = 0 means the map "
       "squashes space into a lower dimension, so the matrix has no inverse.", "6")
c.text("inverse", "A square matrix is invertible ⇔ det ≠ 0 ⇔ its columns are independent ⇔ Ax = 0 only has x = 0 ⇔ "
       "0 is not an eigenvalue.", "3")
c.group("g_eigen", "Eigen")
c.text("eigen", "## Eigenvalues\nAv = λv: an eigenvector keeps its direction under A and is only stretched by λ. "
       "Find λ from det(A − λI) = 0, the characteristic polynomial.", "1")
c.text("diagonalization", "A = PDP⁻¹ when A has n linearly independent eigenvectors; then Aᵏ = PDᵏP⁻¹ makes powers "
       "cheap.", "1")
c.text("spectral", "Spectral theorem: a real symmetric matrix has real eigenvalues and an orthonormal basis of "
       "eigenvectors, A = QΛQᵀ.", "6")
c.text("trace", "Trace = sum of the diagonal entries = sum of the eigenvalues; determinant = product of the "
       "eigenvalues.", "3")
c.text("rotation_q", "❓ Why does a 90° rotation of the plane have no real eigenvectors?", "1")
c.group("g_decomp", "Decompositions")
c.text("gram_schmidt", "Gram–Schmidt turns any basis into an orthonormal one by subtracting projections onto the "
       "previous vectors; this is how the QR decomposition is computed.", "6")
c.text("projection", "Projection of b onto a: proj = (a·b / a·a) a. Least squares solves AᵀA x̂ = Aᵀb when Ax = b has "
       "no exact solution.", "1")
c.text("svd", "SVD: any matrix A = UΣVᵀ, with orthogonal U, V and non-negative singular values on Σ. Keeping only the "
       "largest singular values gives the best rank-k approximation (Eckart–Young).", "1")
c.edge("span", "basis")
c.edge("det", "inverse")
c.edge("eigen", "diagonalization")
c.edge("eigen", "rotation_q")
c.edge("gram_schmidt", "projection", "orthogonality")

# ----------------------------------------------------------------------------------- 物理/经典力学 (zh)

MECH = "物理/经典力学.canvas"
c = _canvas(MECH)
c.text("overview", "# 经典力学\n以牛顿三定律为基础，研究宏观、低速物体的运动。")
c.file("mistakes", "物理/错题本/力学.md", "#动量守恒")
c.link("video", "https://www.bilibili.com/video/BV1Kx411t7xX")
c.group("g_newton", "牛顿定律")
c.text("newton1", "牛顿第一定律（惯性定律）：物体不受外力时保持静止或匀速直线运动状态。", "4")
c.text("newton2", "牛顿第二定律：F = ma，合外力决定加速度；力的单位牛顿 N = kg·m/s²。", "4")
c.text("newton3", "牛顿第三定律：作用力与反作用力大小相等、方向相反，作用在**不同物体**上，所以不能相互抵消。", "6")
c.text("friction", "摩擦力：静摩擦力 ≤ μs·N，滑动摩擦力 f = μk·N，方向与相对运动（或相对运动趋势）相反。", "6")
c.text("noninertial", "在加速的电梯里感觉变重或变轻，这是超重与失重；在非惯性系中要引入惯性力才能用牛顿定律。", "1")
c.text("projectile", "平抛运动：水平方向匀速 x = v₀t，竖直方向自由落体 y = ½gt²，两个方向的运动互相独立。", "4")
c.group("g_energy", "能量与动量")
c.text("work_energy", "动能定理：合外力做的功等于动能的变化，W = ΔEk = ½mv₂² − ½mv₁²。", "6")
c.text("energy_cons", "机械能守恒：只有重力或弹力做功时，动能与势能相互转化，总和不变。从高 h 处滑下到底端的速度 "
       "v = √(2gh)。", "4")
c.text("momentum", "动量 p = mv；动量定理 FΔt = Δp。系统不受外力时总动量守恒，碰撞问题首选动量守恒。", "6")
c.text("collision", "弹性碰撞中动能守恒；完全非弹性碰撞后两物体粘在一起，动能损失最大。", "1")
c.group("g_rotation", "圆周运动、转动与振动")
c.text("circular", "匀速圆周运动：向心加速度 a = v²/r，向心力由其他力提供（绳的拉力、重力、摩擦力），不是一种新的力。",
       "1")
c.text("gravitation", "万有引力定律 F = GMm/r²，卡文迪许用扭秤测出了 G ≈ 6.67×10⁻¹¹ N·m²/kg²。", "3")
c.text("kepler", "开普勒第三定律：行星轨道半长轴的三次方与公转周期的平方成正比，a³/T² = 常数。", "3")
c.text("satellite_q", "❓ 为什么卫星在轨道上处于完全失重状态，但重力并没有消失？", "1")
c.text("shm", "简谐运动：回复力 F = −kx，弹簧振子周期 T = 2π√(m/k)；单摆小角度摆动时 T = 2π√(L/g)，与摆球质量"
       "无关。", "6")
c.text("torque", "力矩 M = F·L（力 × 力臂），刚体转动的牛顿第二定律 M = Iα，I 是转动惯量。", "1")
c.text("angular_momentum", "角动量守恒：花样滑冰运动员收紧手臂时转动惯量变小，转速就变快。", "4")
c.edge("newton2", "momentum", "FΔt = Δp")
c.edge("momentum", "collision")
c.edge("circular", "gravitation", "卫星")
c.edge("gravitation", "satellite_q")
c.edge("torque", "angular_momentum")

# --------------------------------------------------------------------- Chemistry/Organic Reactions (en)

ORG = "Chemistry/Organic Reactions.canvas"
c = _canvas(ORG)
c.text("overview", "# Organic reaction mechanisms\nFollow the electrons: curly arrows go from a nucleophile "
       "(electron-rich) to an electrophile (electron-poor).")
c.file("cheatsheet", "Chemistry/Mechanisms cheat sheet.md", "#Substitution vs elimination")
c.link("moc", "https://www.masterorganicchemistry.com/2012/08/08/walkthrough-of-substitution-reactions-1/")
c.group("g_subst", "Substitution & elimination")
c.text("sn2", "## SN2\nOne step, backside attack, inversion of configuration (Walden inversion). "
       "Rate = k[substrate][Nu]. Fastest for methyl and primary halides; blocked by steric hindrance.", "6")
c.text("sn1", "## SN1\nTwo steps: the leaving group departs to give a carbocation, then the nucleophile attacks "
       "either face → racemisation. Rate = k[substrate]. Favoured by tertiary substrates.", "1")
c.text("carbocation", "Carbocation stability: tertiary > secondary > primary > methyl, thanks to hyperconjugation and "
       "electron donation from alkyl groups. Carbocations may rearrange by hydride or methyl shifts.", "6")
c.text("e2", "E2: a strong base removes a β-hydrogen anti-periplanar to the leaving group in one concerted step. "
       "The Zaitsev product (more substituted alkene) usually wins; bulky bases like t-BuOK give the Hofmann "
       "product.", "1")
c.text("e1", "E1 competes with SN1: the carbocation forms first, then loses a proton. Heat favours elimination over "
       "substitution.", "3")
c.text("solvents", "Polar aprotic solvents (DMSO, acetone, DMF) leave nucleophiles 'naked' and speed up SN2; polar "
       "protic solvents (water, ethanol) stabilise carbocations and favour SN1.", "3")
c.text("tbutyl_q", "❓ 2-bromo-2-methylpropane in ethanol: SN1 or SN2? Why?", "1")
c.group("g_carbonyl", "Carbonyl chemistry")
c.text("aldol", "Aldol reaction: an enolate attacks the carbonyl of another aldehyde or ketone, giving a β-hydroxy "
       "carbonyl; heating dehydrates it to an α,β-unsaturated carbonyl (aldol condensation).", "1")
c.text("grignard", "Grignard reagents (R–MgBr) are strong carbon nucleophiles: with aldehydes they give secondary "
       "alcohols, with ketones tertiary alcohols. Keep them dry — water destroys them.", "6")
c.text("esterification", "Fischer esterification: carboxylic acid + alcohol ⇌ ester + water, acid-catalysed; remove "
       "water or use excess alcohol to push the equilibrium.", "4")
c.group("g_other", "Alkenes, rings and stereochemistry")
c.text("markovnikov", "Markovnikov's rule: when HX adds to an alkene, H goes to the carbon that already has more H's, "
       "because the more stable carbocation forms. Peroxides reverse it (anti-Markovnikov, radical mechanism).",
       "4")
c.text("diels_alder", "Diels–Alder: a conjugated diene and a dienophile form a six-membered ring in one concerted "
       "[4+2] cycloaddition; electron-withdrawing groups on the dienophile speed it up.", "1")
c.text("eas", "Electrophilic aromatic substitution: benzene keeps its aromaticity by substituting rather than adding. "
       "–OH and –NH₂ direct ortho/para; –NO₂ directs meta.", "6")
c.text("chirality", "A chiral carbon carries four different groups. Assign R/S by Cahn–Ingold–Prelog priorities; "
       "enantiomers rotate plane-polarised light in opposite directions.", "4")
c.edge("sn1", "carbocation", "via")
c.edge("sn1", "e1", "competes")
c.edge("sn2", "e2", "competes")
c.edge("solvents", "sn2")
c.edge("tbutyl_q", "sn1")

# ----------------------------------------------------------------------------------------- 历史/宋朝 (zh)

SONG = "历史/宋朝.canvas"
c = _canvas(SONG)
c.text("overview", "# 宋朝（960–1279）\n赵匡胤陈桥兵变建立北宋；1127 年靖康之变后南迁建立南宋；1279 年崖山海战后灭亡。")
c.link("wiki", "https://zh.wikipedia.org/wiki/王安石变法")
c.group("g_north", "北宋建立")
c.text("chenqiao", "陈桥兵变：960 年赵匡胤在陈桥驿被部下黄袍加身，回师开封，夺取后周政权。", "4")
c.text("beijiu", "杯酒释兵权：宋太祖设宴劝石守信等禁军将领交出兵权，换取田宅富贵，从此武将不再掌握禁军。", "4")
c.text("wenzhi", "“重文轻武”：科举扩招、文官统兵、兵将分离，防止了武将割据，但军队战斗力弱，形成“积贫积弱”"
       "的局面。", "6")
c.text("chanyuan", "澶渊之盟（1005 年）：宋辽议和，宋每年给辽岁币银十万两、绢二十万匹，换来百余年和平。", "6")
c.group("g_reform", "变法与党争")
c.text("wanganshi", "## 王安石变法\n宋神宗时（1069 年起）王安石推行青苗法、募役法、保甲法、市易法、方田均税法，"
       "目的是富国强兵。", "1")
c.text("qingmiao", "青苗法：青黄不接时官府借钱粮给农民，收获后加息两分归还，本意抑制高利贷，实际常被强行摊派。", "1")
c.text("opposition", "新法遭到司马光等保守派反对（新旧党争）；神宗死后高太后起用司马光，新法几乎全部废除。", "6")
c.file("essay", "历史/宋朝/王安石变法 论述题.md", "#评价")
c.text("reform_q", "❓ 新法为什么最后失败？从用人、执行和既得利益三方面说。", "1")
c.group("g_south", "南宋")
c.text("jingkang", "靖康之变（1127 年）：金军攻破开封，俘虏徽宗、钦宗二帝，北宋灭亡。", "4")
c.text("yuefei", "岳飞北伐屡败金军（郾城大捷），却被宋高宗和秦桧以“莫须有”的罪名杀害，随后宋金签订绍兴和议。", "4")
c.text("yashan", "崖山海战（1279 年）：陆秀夫背着少帝赵昺投海，南宋灭亡，元朝统一全国。", "4")
c.group("g_culture", "经济与文化")
c.text("economy", "宋代商品经济繁荣：北宋四川出现了世界上最早的纸币“交子”；坊市界限被打破，夜市兴起。", "6")
c.text("inventions", "活字印刷（毕昇）、指南针用于航海、火药用于军事，都在宋代成熟或推广。", "3")
c.text("zhuxi", "朱熹集理学之大成，提出“存天理，灭人欲”；他的《四书章句集注》后来成为科举的标准教材。", "1")
c.text("qingming", "《清明上河图》（张择端）描绘了北宋都城汴京的市井生活，是研究宋代城市经济的重要图像史料。", "3")
c.edge("chenqiao", "beijiu")
c.edge("beijiu", "wenzhi", "导致")
c.edge("wenzhi", "wanganshi", "积贫积弱 → 变法")
c.edge("wanganshi", "opposition")
c.edge("jingkang", "yuefei")

# --------------------------------------------------------------------- Economics/宏观经济学 Macro (mixed)

ECON = "Economics/宏观经济学 Macro.canvas"
c = _canvas(ECON)
c.group("g_measure", "核算 Measurement")
c.text("gdp", "# GDP 国内生产总值\nGDP = C + I + G + (X − M)：消费、投资、政府购买、净出口。只算最终产品，"
       "避免重复计算。", "4")
c.text("nominal_real", "名义 GDP vs 实际 GDP：实际 GDP 按基年价格计算，剔除了通货膨胀；GDP deflator = "
       "名义/实际 × 100。", "6")
c.text("cpi", "CPI 消费者物价指数 measures the price of a fixed basket of consumer goods; inflation rate = CPI "
       "的年增长率。", "4")
c.text("unemployment", "失业三种类型：摩擦性（换工作）、结构性（技能不匹配）、周期性（经济衰退）。自然失业率 = "
       "摩擦性 + 结构性。", "4")
c.text("okun", "奥肯定律 Okun's law：失业率每高于自然率 1 个百分点，实际 GDP 大约低于潜在 GDP 2 个百分点。", "3")
c.link("fred", "https://fred.stlouisfed.org/series/GDPC1")
c.group("g_models", "模型 Models")
c.text("is_lm", "IS-LM 模型：IS 曲线是商品市场均衡（利率越低投资越多），LM 曲线是货币市场均衡；两线交点决定利率"
       "和产出。", "1")
c.text("ad_as", "AD-AS 模型 aggregate demand and aggregate supply：需求冲击使价格和产出同向变动；供给冲击（如"
       "石油危机）使物价上涨、产出下降，即 stagflation 滞胀。", "6")
c.text("phillips", "菲利普斯曲线 Phillips curve：短期内通胀与失业此消彼长；长期曲线是垂直的，位于自然失业率处。", "1")
c.text("quantity", "货币数量论 MV = PY：货币流通速度 V 稳定时，货币供给增长过快最终只会带来通货膨胀。", "6")
c.text("print_q", "❓ 为什么长期来看 printing money 不能降低失业率？", "1")
c.file("mankiw", "Economics/Mankiw Macro ch.10.pdf")
c.group("g_policy", "政策 Policy")
c.text("multiplier", "财政乘数 Keynesian multiplier = 1/(1 − MPC)。MPC = 0.8 时，政府多花 1 元，GDP 最终增加 5 元。",
       "1")
c.text("crowding_out", "挤出效应 crowding out：政府借钱扩大支出推高利率，挤掉了私人投资。", "6")
c.text("monetary_tools", "央行货币政策工具：公开市场操作、存款准备金率、再贴现率（以及政策利率）。降准 → 货币供给"
       "增加。", "6")
c.text("money_multiplier", "货币乘数 money multiplier = 1/法定准备金率 (simple version)：准备金率 10% 时，1 元基础"
       "货币最多创造 10 元存款。", "3")
c.text("liquidity_trap", "流动性陷阱 liquidity trap：利率已接近零，人们愿意持有任何数量的货币，货币政策失效，只能"
       "靠财政政策。", "1")
c.text("exchange", "汇率：人民币升值 → 出口商品在国外变贵，净出口减少；贬值则相反。Mundell–Fleming：固定汇率下"
       "货币政策无效。", "1")
c.edge("gdp", "nominal_real")
c.edge("multiplier", "crowding_out", "抵消一部分")
c.edge("phillips", "print_q")
c.edge("quantity", "print_q")
c.edge("monetary_tools", "liquidity_trap", "失效")

# -------------------------------------------------------------------------------------- CS/Algorithms (en)

ALG = "CS/Algorithms.canvas"
c = _canvas(ALG)
c.text("overview", "# Algorithms\nBig-O describes how running time grows with the input size n, ignoring constants: "
       "O(1) < O(log n) < O(n) < O(n log n) < O(n²) < O(2ⁿ).")
c.file("clrs", "CS/Algorithms/CLRS ch.24 shortest paths.pdf")
c.link("visualgo", "https://visualgo.net/en/sorting")
c.group("g_sort", "Sorting & searching")
c.text("binary_search", "Binary search: halve a sorted array each step → O(log n). Watch the off-by-one in "
       "`lo <= hi` and the overflow in `(lo + hi) / 2`.", "4")
c.text("merge_sort", "Merge sort: split in half, sort both halves recursively, merge in linear time. Always "
       "O(n log n), stable, needs O(n) extra memory.", "4")
c.text("quicksort", "Quicksort: partition around a pivot, recurse on both sides. Average O(n log n), but O(n²) when "
       "the pivot is always the smallest or largest element (e.g. first element of sorted input); a random pivot "
       "avoids it. In-place, not stable.", "6")
c.text("lower_bound", "Any comparison-based sort needs Ω(n log n) comparisons in the worst case (decision-tree "
       "argument); counting sort and radix sort beat it by not comparing.", "1")
c.group("g_ds", "Data structures")
c.text("heap", "Binary heap: a complete tree stored in an array, parent ≤ children. push/pop O(log n), peek O(1); "
       "heapsort and priority queues are built on it.", "6")
c.text("hashing", "Hash table: average O(1) lookup; collisions handled by chaining or open addressing; resize when "
       "the load factor gets high.", "4")
c.text("union_find", "Union–find (disjoint set union) with path compression and union by rank: almost O(1) per "
       "operation, amortised α(n).", "1")
c.group("g_graphs", "Graphs")
c.text("bfs_dfs", "BFS uses a queue and finds shortest paths in unweighted graphs; DFS uses a stack (or recursion) "
       "and is the basis of topological sort and cycle detection.", "4")
c.text("dijkstra", "Dijkstra's algorithm: single-source shortest paths with non-negative edge weights; greedy with a "
       "priority queue, O((V + E) log V). It fails when an edge weight is negative — use Bellman–Ford.", "6")
c.text("mst", "Minimum spanning tree: Kruskal sorts the edges and adds the cheapest one that doesn't close a cycle "
       "(union–find); Prim grows a single tree from a start vertex.", "1")
c.group("g_paradigms", "Paradigms")
c.text("dp", "## Dynamic programming\nBreak a problem into overlapping subproblems and store their answers "
       "(memoisation or a bottom-up table). Needs optimal substructure.", "6")
c.text("knapsack", "0/1 knapsack: dp[i][w] = max(dp[i−1][w], dp[i−1][w−wᵢ] + vᵢ), O(nW) — pseudo-polynomial, since "
       "W can be huge.", "1")
c.text("lcs", "Longest common subsequence: dp[i][j] = dp[i−1][j−1] + 1 if the characters match, else "
       "max(dp[i−1][j], dp[i][j−1]). Diff tools use it.", "6")
c.text("greedy", "Greedy algorithms take the locally best choice; they are correct only when an exchange argument "
       "proves it (e.g. activity selection by earliest finish time).", "3")
c.text("master", "Master theorem: T(n) = aT(n/b) + f(n). Merge sort has a = 2, b = 2, f(n) = n → O(n log n).", "1")
c.text("np", "P vs NP: problems whose solutions can be checked quickly vs solved quickly. For NP-complete problems "
       "(SAT, travelling salesman) no polynomial algorithm is known.", "3")
c.edge("merge_sort", "master", "analysis")
c.edge("heap", "dijkstra", "priority queue")
c.edge("union_find", "mst", "Kruskal")
c.edge("dp", "knapsack")
c.edge("dp", "lcs")
c.edge("quicksort", "lower_bound")

# ------------------------------------------------------------------------------------ 数学/概率论 (zh)

PROB = "数学/概率论.canvas"
c = _canvas(PROB)
c.text("overview", "# 概率论基础\n样本空间、事件，以及科尔莫戈罗夫的概率公理：非负性、规范性、可列可加性。")
c.file("answers", "数学/概率论/茆诗松 习题答案.pdf")
c.link("seeing", "https://seeing-theory.brown.edu/")
c.group("g_formulas", "基本公式")
c.text("conditional", "条件概率 P(A|B) = P(AB)/P(B)：在 B 已经发生的前提下 A 发生的概率。", "4")
c.text("total", "全概率公式：P(B) = Σ P(B|Aᵢ)P(Aᵢ)，先把样本空间按“原因”划分，再加权求和。", "6")
c.text("bayes", "## 贝叶斯公式\nP(A|B) = P(B|A)P(A) / P(B)。经典例子：某病患病率 1%，检测准确率 99%，检测阳性的人"
       "真正患病的概率只有 50% 左右。", "1")
c.text("independence", "独立：P(AB) = P(A)P(B)。“互斥”和“独立”是两回事，两个概率都不为零的互斥事件一定不独立。", "1")
c.text("expectation", "期望的线性性：E(X+Y) = E(X) + E(Y)，不需要独立；但 Var(X+Y) = Var(X) + Var(Y) 需要"
       "不相关。", "6")
c.group("g_dists", "常见分布")
c.text("binomial", "二项分布 B(n,p)：n 次独立重复试验中成功 k 次的概率为 C(n,k)pᵏ(1−p)ⁿ⁻ᵏ，期望 np，方差 np(1−p)。",
       "6")
c.text("poisson", "泊松分布：单位时间内稀有事件发生的次数，P(X=k) = λᵏe^{−λ}/k!，期望和方差都等于 λ；n 大 p 小时"
       "可以近似二项分布。", "6")
c.text("normal", "正态分布 N(μ, σ²)：钟形曲线，约 68% 的数据落在 μ±σ 内，95% 在 μ±2σ 内，99.7% 在 μ±3σ 内。", "4")
c.text("geometric", "几何分布：第一次成功所需的试验次数，具有无记忆性 P(X>m+n | X>m) = P(X>n)。", "3")
c.group("g_limits", "极限定理")
c.text("lln", "大数定律：独立同分布随机变量的样本均值随样本量增大收敛到期望——这就是频率稳定于概率的原因。", "1")
c.text("clt", "中心极限定理：无论原来的分布是什么，大量独立同分布随机变量之和（标准化后）近似服从正态分布。", "1")
c.text("chebyshev", "切比雪夫不等式：P(|X−μ| ≥ kσ) ≤ 1/k²，不需要知道具体分布就能给出偏离均值的概率上界。", "3")
c.group("g_puzzles", "趣题")
c.text("birthday", "生日问题：23 个人中至少两人同一天生日的概率就超过 50%，直觉往往严重低估。", "3")
c.text("monty_hall", "蒙提霍尔问题：主持人打开一扇后面是山羊的门后，换选另一扇门赢得汽车的概率是 2/3，坚持原选择"
       "只有 1/3。", "1")
c.text("test_q", "❓ 为什么检测结果呈阳性的人，真正患病的概率反而不高？试着画频数树解释。", "1")
c.edge("conditional", "bayes")
c.edge("total", "bayes", "分母")
c.edge("bayes", "test_q")
c.edge("binomial", "poisson", "n 大 p 小")
c.edge("lln", "clt")

# ------------------------------------------------------------------------------- English/Grammar 语法 (mixed)

GRAM = "English/Grammar 语法.canvas"
c = _canvas(GRAM)
c.file("mistakes", "English/错题/语法错题.md", "#虚拟语气")
c.link("cambridge", "https://dictionary.cambridge.org/grammar/british-grammar/")
c.group("g_tenses", "时态 Tenses")
c.text("tenses", "# 时态总览\n英语有 12 种时态：过去/现在/将来 × 一般/进行/完成/完成进行。中文靠时间词表达时间，"
       "英语靠动词变化。")
c.text("present_perfect", "现在完成时 present perfect：have/has + done，强调过去的动作对现在的影响。I have lost my "
       "key（钥匙现在还没找到）。", "1")
c.text("past_vs_perfect", "一般过去时 vs 现在完成时：句子里有明确的过去时间（yesterday, in 2019, last week）只能用"
       "一般过去时；❌ I have seen him yesterday.", "1")
c.text("reported", "间接引语 reported speech 要时态后退：He said, 'I am tired.' → He said (that) he was tired.", "3")
c.text("modal", "情态动词表推测：must be（肯定是）、might be（可能是）、can't be（不可能是）；对过去的推测用 must have "
       "done。", "6")
c.group("g_subjunctive", "虚拟语气 Subjunctive")
c.text("second_cond", "与现在事实相反的虚拟：If I were you, I would take the job. 从句用过去式，be 动词一律用 were。",
       "6")
c.text("third_cond", "与过去事实相反的虚拟：If I had studied harder, I would have passed the exam. 从句 had done，"
       "主句 would have done。", "1")
c.text("wish_q", "❓ wish 后面的虚拟语气怎么用？I wish I knew 和 I wish I had known 有什么区别？", "1")
c.group("g_syntax", "词法与句法 Words & syntax")
c.text("articles", "冠词 a/an/the：第一次提到用 a，再次提到用 the；a 还是 an 看发音不看字母：an hour, a university。",
       "6")
c.text("countable", "可数与不可数名词：information, advice, furniture, homework 都不可数，不能加 s，要说 a piece of "
       "advice。", "4")
c.text("relative", "定语从句 relative clauses：that 不能用于非限制性定语从句（逗号后），也不能放在介词后面：the house "
       "in which I live。", "6")
c.text("passive", "被动语态 passive voice：be + 过去分词。The window was broken by the kids. 不知道或不关心是谁做的时候"
       "用被动。", "4")
c.text("gerund_inf", "动名词 vs 不定式：enjoy/finish/mind + doing；want/decide/hope + to do；stop doing（停止做某事）"
       "≠ stop to do（停下来去做另一件事）。", "1")
c.text("agreement", "主谓一致 subject–verb agreement：The number of students is…（单数），A number of students are…"
       "（复数）。", "6")
c.text("inversion", "倒装：Never have I seen such a beautiful sunset. 否定词（never, seldom, hardly）放句首时，主语和"
       "助动词倒装。", "1")
c.text("prepositions", "时间介词：in + 月份/年份，on + 具体某一天，at + 钟点。in the morning，但 on Monday morning。",
       "4")
c.edge("present_perfect", "past_vs_perfect", "易混")
c.edge("second_cond", "third_cond")
c.edge("third_cond", "wish_q")
c.edge("tenses", "reported")

# -------------------------------------------------------------------------- 日本語/N3 単語 (ja + zh notes)

JP = "日本語/N3 単語.canvas"
c = _canvas(JP)
c.text("title", "# N3 単語 — 日语 N3 词汇笔记\n按主题整理，重点标出和中文写法相同、意思不同的汉字词。")
c.file("lesson", "日本語/単語帳/N3 第5課.md", "#形容詞")
c.link("jisho", "https://jisho.org/search/%E5%8B%89%E5%BC%B7")
c.group("g_false_friends", "中日同形异义词")
c.text("benkyou", "勉強（べんきょう）= 学习。⚠️ 不是中文的“勉强”！中文“勉强”的意思在日语里更接近 無理（むり）。", "1")
c.text("tegami", "手紙（てがみ）= 信。⚠️ 不是手纸！卫生纸在日语里是 トイレットペーパー。", "1")
c.text("kisha", "汽車（きしゃ）= 火车（旧说法）；中文的“汽车”在日语里是 自動車（じどうしゃ）。", "6")
c.text("daijoubu", "大丈夫（だいじょうぶ）= 没关系、没问题。中文“大丈夫”指有志气的男子，意思完全不同。", "4")
c.text("ryouri", "料理（りょうり）= 做菜、菜肴。中文“料理”是处理、照管的意思。", "4")
c.text("aisatsu", "挨拶（あいさつ）= 打招呼、致辞。", "6")
c.group("g_words", "常用词与表达")
c.text("akirameru", "諦める（あきらめる）= 放弃、死心。例：夢を諦めないで（不要放弃梦想）。", "6")
c.text("natsukashii", "懐かしい（なつかしい）= 令人怀念的。看到小时候的照片会说「懐かしい！」", "4")
c.text("mottainai", "もったいない = 可惜、浪费。剩饭的时候常说。", "4")
c.text("yoroshiku", "よろしくお願いします = 请多关照，初次见面或拜托别人时说。", "4")
c.text("isogashii", "忙しい（いそがしい）= 忙；暇（ひま）= 有空。", "4")
c.text("jisho_word", "辞書（じしょ）= 词典。")
c.group("g_grammar", "语法要点")
c.text("on_kun", "音读与训读：山 的音读是 さん（富士山 ふじさん），训读是 やま。音读来自古代汉语的读音。", "6")
c.text("keigo", "敬语三类：尊敬语（抬高对方：いらっしゃる）、谦让语（降低自己：参る、申す）、丁宁语（です・ます）。",
       "1")
c.text("giving", "授受动词：あげる（我给别人）、くれる（别人给我）、もらう（我从别人那里得到）。方向最容易搞错。", "1")
c.text("ki_q", "❓ 「気がする」和「気になる」有什么区别？", "1")
c.edge("benkyou", "tegami", "同类陷阱")
c.edge("tegami", "kisha")
c.edge("keigo", "giving")

# --------------------------------------------------------------------------- ML/Machine Learning (mixed)

ML = "ML/Machine Learning.canvas"
c = _canvas(ML)
c.text("overview", "# Machine Learning 机器学习\nSupervised (labels), unsupervised (no labels), reinforcement "
       "learning (rewards).")
c.file("cs229", "ML/cs229 notes/lecture3.pdf")
c.link("attention_paper", "https://arxiv.org/abs/1706.03762")
c.group("g_basics", "基础 Basics")
c.text("bias_variance", "偏差-方差权衡 bias–variance tradeoff：简单模型偏差大（欠拟合），复杂模型方差大（过拟合）。",
       "6")
c.text("overfitting", "Overfitting: the training loss keeps falling while the validation loss rises. Fixes: more data, "
       "regularisation, early stopping, dropout.", "4")
c.text("regularization", "L1 正则（Lasso）会把部分权重压成 0，起到特征选择的作用；L2 正则（Ridge）让权重整体变小但"
       "不为 0。", "1")
c.text("gd", "梯度下降 gradient descent：θ ← θ − η∇L(θ)。学习率 η 太大会发散，太小收敛太慢。", "4")
c.text("sgd_adam", "SGD uses a mini-batch gradient; momentum smooths it; Adam keeps running averages of the gradient "
       "and its square to give each parameter its own step size.", "6")
c.group("g_models", "模型 Models")
c.text("logistic", "Logistic regression: p = σ(wᵀx + b), trained with cross-entropy loss; despite the name it is a "
       "classifier.", "4")
c.text("decision_tree", "决策树用信息增益（ID3）或基尼系数（CART）选择分裂特征；容易过拟合，需要剪枝。", "6")
c.text("ensembles", "Random forest = bagging of decision trees + a random subset of features at each split. Gradient "
       "boosting (XGBoost) instead fits each new tree to the residuals of the current ensemble.", "6")
c.text("kmeans", "k-means 聚类：随机选 k 个中心 → 每个点分配给最近的中心 → 更新中心，重复直到不变；对初始值敏感，"
       "可用 k-means++ 初始化。", "4")
c.text("pca", "PCA 主成分分析：找方差最大的正交方向来降维，本质是对协方差矩阵做特征分解（或对数据做 SVD）。", "1")
c.group("g_deep", "深度学习 Deep learning")
c.text("backprop", "反向传播 backpropagation：用链式法则从输出层往回逐层计算损失对每个权重的梯度。", "6")
c.text("softmax", "Softmax 把 logits 变成概率分布；多分类用交叉熵损失 cross-entropy = −Σ y log p。", "6")
c.text("vanishing", "梯度消失 vanishing gradients：sigmoid 在饱和区导数接近 0，深层网络前面几层几乎学不动；用 ReLU、"
       "残差连接、BatchNorm 缓解。", "1")
c.text("attention", "Attention(Q, K, V) = softmax(QKᵀ/√d_k)V. Transformers replace recurrence with self-attention, so "
       "each token can attend to every other token in one step.", "1")
c.group("g_eval", "评估 Evaluation")
c.text("cross_val", "k 折交叉验证 k-fold cross-validation：把数据分成 k 份，轮流用其中 1 份做验证、其余训练，结果取"
       "平均，适合数据少的时候。", "4")
c.text("precision_recall", "Precision = TP/(TP+FP)，Recall = TP/(TP+FN)。癌症筛查更看重 recall（别漏诊），垃圾邮件"
       "过滤更看重 precision。", "1")
c.text("roc_auc", "ROC curve plots TPR against FPR across thresholds; AUC = the probability that a random positive is "
       "scored above a random negative.", "1")
c.edge("bias_variance", "overfitting")
c.edge("overfitting", "regularization", "fix")
c.edge("gd", "sgd_adam")
c.edge("backprop", "vanishing")
c.edge("decision_tree", "ensembles")
c.edge("attention", "attention_paper")

del c

# ------------------------------------------------------------------------------------------- public data

CANVASES: dict[str, list[Node]] = {}
EDGES: dict[str, list[Edge]] = {}
for _path, _built in _BUILT.items():
    CANVASES[_path], EDGES[_path] = _built.done()


def _ref(path: str, key: str) -> Ref:
    """The (canvas path, node id) of a node, refusing keys that no canvas defines."""
    if key not in _BUILT[path].keys:
        raise KeyError(f"no node {key!r} in {path}")
    return (path, node_id(path, key))


def _q(query: str, lang: str, *expected: tuple[str, str]) -> dict[str, Any]:
    return {"query": query, "lang": lang, "expected": [_ref(p, k) for p, k in expected]}


QUERIES: list[dict[str, Any]] = [
    # English queries on English or mixed notes.
    _q("Michaelis-Menten equation", "en", (ENZ, "mm")),
    _q("why does quicksort become quadratic", "en", (ALG, "quicksort")),
    _q("O(n log n) lower bound for comparison sorts", "en", (ALG, "lower_bound")),
    _q("shortest paths when some edges have negative weights", "en", (ALG, "dijkstra")),
    _q("which solvents make backside attack faster", "en", (ORG, "solvents")),
    _q("a matrix with zero determinant cannot be inverted", "en", (LA, "det"), (LA, "inverse")),
    _q("best low-rank approximation of a matrix", "en", (LA, "svd")),
    _q("plants that keep their stomata shut during the day", "en", (PHOTO, "cam")),
    _q("where does the oxygen released by plants come from", "en", (PHOTO, "photolysis"), (PHOTO, "light_rxn")),
    _q("how does aspirin switch off an enzyme for good", "en", (ENZ, "irreversible")),
    _q("Diels-Alder", "en", (ORG, "diels_alder")),
    _q("each new tree is trained on the mistakes of the trees before it", "en", (ML, "ensembles")),
    _q("how does a transformer let every word look at all the other words", "en", (ML, "attention")),
    _q("model does great on training data but poorly on data it has not seen", "en", (ML, "overfitting")),
    _q("liquidity trap", "en", (ECON, "liquidity_trap")),
    _q("stop doing vs stop to do", "en", (GRAM, "gerund_inf")),
    _q("L'Hôpital's rule", "en", (CALC, "lhopital")),
    # Chinese queries on Chinese or mixed notes.
    _q("王安石变法", "zh", (SONG, "wanganshi")),
    _q("三羧酸循环在线粒体的哪个部位进行", "zh", (RESP, "tca_where"), (RESP, "overview")),
    _q("为什么剧烈运动后肌肉会发酸", "zh", (RESP, "lactic")),
    _q("酿酒和蒸馒头利用的是什么原理", "zh", (RESP, "alcohol")),
    _q("贝叶斯公式", "zh", (PROB, "bayes")),
    _q("三门问题到底该不该换门", "zh", (PROB, "monty_hall")),
    _q("为什么硬币抛得越多，正面朝上的比例越接近一半", "zh", (PROB, "lln")),
    _q("澶渊之盟", "zh", (SONG, "chanyuan")),
    _q("宋朝的军队为什么打不过辽和金", "zh", (SONG, "wenzhi")),
    _q("跳水运动员为什么抱紧身体就转得更快", "zh", (MECH, "angular_momentum")),
    _q("单摆的周期和摆球质量有关吗", "zh", (MECH, "shm")),
    _q("坐电梯加速上升时为什么觉得自己变重了", "zh", (MECH, "noninertial")),
    _q("日语的勉強是什么意思", "zh", (JP, "benkyou")),
    _q("滞胀是怎么产生的", "zh", (ECON, "ad_as")),
    _q("L1 和 L2 正则化有什么区别", "zh", (ML, "regularization")),
    _q("可导和连续是什么关系", "zh", (CALC, "diff_cont")),
    _q("If I were you 为什么用 were 不用 was", "zh", (GRAM, "second_cond")),
    # Cross-language: Chinese query for an English note, English query for a Chinese note.
    _q("米氏常数的含义", "cross", (ENZ, "mm")),
    _q("竞争性抑制剂会不会改变最大反应速率", "cross", (ENZ, "competitive")),
    _q("快速排序的最坏情况", "cross", (ALG, "quicksort")),
    _q("最小生成树算法", "cross", (ALG, "mst")),
    _q("光合作用中固定二氧化碳的酶", "cross", (PHOTO, "calvin"), (PHOTO, "rubisco")),
    _q("亲核取代反应中的构型翻转", "cross", (ORG, "sn2")),
    _q("矩阵的特征值怎么求", "cross", (LA, "eigen")),
    _q("Bayes theorem and false positives in a medical test", "cross", (PROB, "bayes")),
    _q("Wang Anshi reforms", "cross", (SONG, "wanganshi")),
    _q("central limit theorem", "cross", (PROB, "clt")),
    _q("why a figure skater spins faster when she pulls in her arms", "cross", (MECH, "angular_momentum")),
    _q("Japanese verb meaning to give up", "cross", (JP, "akirameru")),
    _q("yeast turning sugar into alcohol without oxygen", "cross", (RESP, "alcohol")),
    _q("how cyanide poisoning stops ATP production", "cross", (RESP, "cyanide")),
    _q("the first paper money in history", "cross", (SONG, "economy")),
]


def _obsidian_json(doc: dict[str, list[dict[str, Any]]]) -> str:
    """Obsidian's layout: tab-indented, one object per line, no spaces, raw UTF-8."""
    parts = []
    for key, items in doc.items():
        lines = ",\n".join("\t\t" + json.dumps(item, separators=(",", ":"), ensure_ascii=False) for item in items)
        parts.append(f'\t"{key}":[\n{lines}\n\t]' if items else f'\t"{key}":[]')
    return "{\n" + ",\n".join(parts) + "\n}"


def write_vault(root: Path) -> None:
    """Write every canvas under ``root`` as Obsidian would, creating the folders they live in."""
    for path, nodes in CANVASES.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_obsidian_json({"nodes": nodes, "edges": EDGES[path]}), encoding="utf-8")


def recall_at_k(results: list[tuple[str, str]], expected: list[tuple[str, str]], k: int = 5) -> float:
    """The share of ``expected`` (canvas path, node id) pairs found among the first ``k`` results."""
    if not expected:
        raise ValueError("a judged query needs at least one expected node")
    top = set(results[:k])
    return sum(1 for ref in expected if ref in top) / len(expected)
