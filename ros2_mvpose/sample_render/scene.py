"""The scene at one instant: the people's signed distance field with per-primitive colours, plus
an analytic textured ground plane (``z = 0``) and a sky gradient. World frame z-up, metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ros2_mvpose.sample_render import sdf
from ros2_mvpose.sample_render.body import (
    EAR_OFFSET,
    EYE_OFFSET,
    EYE_RADIUS,
    HEAD_RADII,
    NOSE_BRIDGE,
    NOSE_RADII,
    NOSE_TIP,
    PosedBody,
)

#: Blend widths (m) of the smooth-union groups; group 0 is a plain (sharp) union.
GROUP_BLEND = {1: 0.02, 2: 0.035, 3: 0.03}
_MIRROR = np.array([1.0, -1.0, 1.0])

_WHITE = (0.80, 0.80, 0.76)
_PUPIL = (0.03, 0.02, 0.015)
_LIPS = (0.42, 0.12, 0.10)


@dataclass
class Part:
    """The primitives of one body part (head, torso, an arm, the legs), grouped by kind for
    batched evaluation.

    Each kind keeps its parameters plus ``colour (M, 3)`` (linear RGB albedo) and ``group (M,)``
    (0: sharp union; ``g > 0``: smooth union with blend ``GROUP_BLEND[g]``; a group never spans
    two parts). ``lo, hi`` bound the part (axis-aligned box, world).
    """

    sph_c: np.ndarray
    sph_r: np.ndarray
    cone_a: np.ndarray
    cone_b: np.ndarray
    cone_ra: np.ndarray
    cone_rb: np.ndarray
    ell_c: np.ndarray
    ell_R: np.ndarray
    ell_r: np.ndarray
    colour: np.ndarray  # (M, 3) in order spheres, cones, ellipsoids
    group: np.ndarray  # (M,)
    lo: np.ndarray
    hi: np.ndarray

    def distances(self, p: np.ndarray) -> np.ndarray:
        """Raw distances ``(N, M)`` from ``p (N, 3)`` to every primitive."""
        parts = []
        if self.sph_r.size:
            parts.append(sdf.sphere_batch(p, self.sph_c, self.sph_r))
        if self.cone_ra.size:
            parts.append(sdf.round_cone_batch(p, self.cone_a, self.cone_b, self.cone_ra, self.cone_rb))
        if self.ell_r.size:
            parts.append(sdf.ellipsoid_batch(p, self.ell_c, self.ell_R, self.ell_r))
        return np.concatenate(parts, axis=1)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """Signed distance ``(N,)`` to the person (groups blended, then a sharp union)."""
        d = self.distances(p)
        sharp = self.group == 0
        out = d[:, sharp].min(axis=1) if sharp.any() else np.full(p.shape[0], np.inf)
        for g, k in GROUP_BLEND.items():
            cols = np.nonzero(self.group == g)[0]
            if cols.size:
                out = np.minimum(out, sdf.smooth_union_many(d[:, cols], k))
        return out

    def albedo(self, p: np.ndarray) -> np.ndarray:
        """Colour ``(N, 3)`` of the primitive nearest to each point."""
        return self.colour[np.argmin(self.distances(p), axis=1)]


@dataclass
class PersonShape:
    """A person as body parts; ``lo, hi`` bound the whole person (axis-aligned box, world).

    A part's primitives are evaluated only for points within ``margin`` of its box; farther
    points get the box distance (a lower bound of the true distance).
    """

    parts: list[Part]
    lo: np.ndarray
    hi: np.ndarray
    margin: float = 0.03

    def sdf(self, p: np.ndarray, exact_within: float = 0.0) -> np.ndarray:
        """Signed distance ``(N,)`` to the person; exact (not a box bound) within
        ``max(exact_within, margin)`` of each part's box."""
        out = np.full(p.shape[0], np.inf)
        margin = max(self.margin, exact_within)
        for part in self.parts:
            d = sdf.aabb_distance(p, part.lo, part.hi)
            near = d < margin
            if near.any():
                d[near] = part.sdf(p[near])
            np.minimum(out, d, out=out)
        return out

    def albedo(self, p: np.ndarray) -> np.ndarray:
        """Colour ``(N, 3)`` of the primitive nearest to each point."""
        best = np.full(p.shape[0], np.inf)
        out = np.zeros((p.shape[0], 3))
        for part in self.parts:
            idx = np.nonzero(sdf.aabb_distance(p, part.lo, part.hi) < self.margin)[0]
            if idx.size == 0:
                continue
            d = part.distances(p[idx])
            j = np.argmin(d, axis=1)
            dmin = d[np.arange(idx.size), j]
            better = dmin < best[idx]
            best[idx[better]] = dmin[better]
            out[idx[better]] = part.colour[j[better]]
        return out


class _Builder:
    def __init__(self) -> None:
        self._parts: list[Part] = []
        self._sph: list[tuple] = []
        self._cone: list[tuple] = []
        self._ell: list[tuple] = []

    def end_part(self) -> None:
        """Close the current part (primitives added so far) and start a new one."""
        if self._sph or self._cone or self._ell:
            self._parts.append(self._build_part())
        self._sph, self._cone, self._ell = [], [], []

    def build(self) -> PersonShape:
        self.end_part()
        lo = np.min([p.lo for p in self._parts], axis=0)
        hi = np.max([p.hi for p in self._parts], axis=0)
        return PersonShape(self._parts, lo, hi)

    def sphere(self, c, r, colour, group=0):
        self._sph.append((np.asarray(c, float), float(r), colour, group))

    def cone(self, a, b, ra, rb, colour, group=0):
        self._cone.append((np.asarray(a, float), np.asarray(b, float), float(ra), float(rb), colour, group))

    def ellipsoid(self, c, rot, radii, colour, group=0):
        self._ell.append(
            (np.asarray(c, float), np.asarray(rot, float), np.asarray(radii, float), colour, group)
        )

    def _build_part(self) -> Part:
        def arr(items, i, shape):
            return np.array([it[i] for it in items], float).reshape(shape)

        ns, nc, ne = len(self._sph), len(self._cone), len(self._ell)
        colour = np.array(
            [it[2] for it in self._sph] + [it[4] for it in self._cone] + [it[3] for it in self._ell], float
        )
        group = np.array(
            [it[3] for it in self._sph] + [it[5] for it in self._cone] + [it[4] for it in self._ell], int
        )
        shape = Part(
            sph_c=arr(self._sph, 0, (ns, 3)),
            sph_r=arr(self._sph, 1, (ns,)),
            cone_a=arr(self._cone, 0, (nc, 3)),
            cone_b=arr(self._cone, 1, (nc, 3)),
            cone_ra=arr(self._cone, 2, (nc,)),
            cone_rb=arr(self._cone, 3, (nc,)),
            ell_c=arr(self._ell, 0, (ne, 3)),
            ell_R=arr(self._ell, 1, (ne, 3, 3)),
            ell_r=arr(self._ell, 2, (ne, 3)),
            colour=colour,
            group=group,
            lo=np.zeros(3),
            hi=np.zeros(3),
        )
        lo, hi = [], []
        for c, r, *_ in self._sph:
            lo.append(c - r)
            hi.append(c + r)
        for a, b, ra, rb, *_ in self._cone:
            r = max(ra, rb)
            lo.append(np.minimum(a, b) - r)
            hi.append(np.maximum(a, b) + r)
        for c, _, radii, *_ in self._ell:
            lo.append(c - radii.max())
            hi.append(c + radii.max())
        shape.lo = np.min(lo, axis=0) - 0.005
        shape.hi = np.max(hi, axis=0) + 0.005
        return shape


def person_shape(body: PosedBody) -> PersonShape:
    """Primitives of a posed body: head (hair, eyes, brows, nose, mouth, ears), neck, shirt
    (torso and short sleeves), skin arms and hands, trousers, shoes."""
    app = body.appearance
    s = body.scale
    F = body.frame
    J = body.joints
    skin, hair, shirt = tuple(app.skin), tuple(app.hair), tuple(app.shirt)
    trousers, shoes = tuple(app.trousers), tuple(app.shoes)
    ear_skin = tuple(0.85 * np.asarray(app.skin))
    hc = body.head_center
    b = _Builder()

    def at(offset) -> np.ndarray:  # head-relative offset (person frame, 1.70 m units) -> world
        return hc + F @ (s * np.asarray(offset, float))

    # Head, neck (smooth group 1).
    b.ellipsoid(hc, F, s * HEAD_RADII, skin, 1)
    b.cone(body.neck_base + F @ (s * np.array([-0.01, 0, -0.02])), at([-0.015, 0, -0.07]),
           0.055 * s, 0.047 * s, skin, 1)
    b.ellipsoid(at([-0.014, 0, 0.02]), F, s * np.array([0.099, 0.083, 0.103]), hair)
    for m in (np.ones(3), _MIRROR):
        eye = m * EYE_OFFSET
        b.sphere(at(eye), EYE_RADIUS * s, _WHITE)
        b.sphere(at(eye + [0.0095, 0, 0]), 0.0068 * s, _PUPIL)
        b.cone(at(m * np.array([0.087, 0.014, 0.020])), at(m * np.array([0.079, 0.050, 0.022])),
               0.0055 * s, 0.005 * s, hair)
        b.ellipsoid(at(m * EAR_OFFSET), F, s * np.array([0.021, 0.012, 0.032]), ear_skin)
    b.cone(at(NOSE_BRIDGE), at(NOSE_TIP), NOSE_RADII[0] * s, NOSE_RADII[1] * s, skin)
    b.ellipsoid(at([0.076, 0, -0.062]), F, s * np.array([0.010, 0.022, 0.0075]), _LIPS)
    b.end_part()

    # Shirt: chest, waist, shoulder bar (smooth group 2).
    pel = body.pelvis

    def torso(offset) -> np.ndarray:
        return pel + F @ (s * np.asarray(offset, float))

    b.ellipsoid(torso([-0.005, 0, 0.36]), F, s * np.array([0.105, 0.16, 0.17]), shirt, 2)
    b.ellipsoid(torso([0.0, 0, 0.17]), F, s * np.array([0.095, 0.14, 0.16]), shirt, 2)
    b.cone(torso([-0.01, 0.15, 0.455]), torso([-0.01, -0.15, 0.455]), 0.058 * s, 0.058 * s, shirt, 2)
    b.end_part()

    # Arms: skin with a short sleeve; hands.
    for i, (sh, el, wr) in enumerate(((5, 7, 9), (6, 8, 10))):
        b.cone(J[sh], J[el], 0.048 * s, 0.040 * s, skin)
        b.cone(J[sh], J[sh] + 0.5 * (J[el] - J[sh]), 0.062 * s, 0.056 * s, shirt)
        b.cone(J[el], J[wr], 0.038 * s, 0.029 * s, skin)
        hf = body.hand_frames[i]
        b.ellipsoid(J[wr] + hf @ np.array([0, 0, -0.075 * s]), hf, s * np.array([0.045, 0.022, 0.085]), skin)
        b.end_part()

    # Trousers: pelvis and thighs (smooth group 3), shins; shoes.
    b.ellipsoid(torso([-0.005, 0, 0.03]), F, s * np.array([0.10, 0.16, 0.11]), trousers, 3)
    for hip, knee, ankle in ((11, 13, 15), (12, 14, 16)):
        b.cone(J[hip], J[knee], 0.078 * s, 0.056 * s, trousers, 3)
        b.cone(J[knee], J[ankle], 0.054 * s, 0.042 * s, trousers)
        shoe_c = J[ankle] + F @ (s * np.array([0.055, 0, -0.035]))
        b.ellipsoid(shoe_c, F, s * np.array([0.13, 0.05, 0.05]), shoes)
    return b.build()


@dataclass
class Lighting:
    """Sun and sky. ``sun_dir`` points from the scene toward the sun (unit, world)."""

    sun_dir: np.ndarray = field(default_factory=lambda: _unit([0.45, -0.35, 0.82]))
    sun: float = 1.0
    ambient: float = 0.38
    sky_zenith: tuple[float, float, float] = (0.30, 0.50, 0.85)
    sky_horizon: tuple[float, float, float] = (0.82, 0.88, 0.95)
    ground_a: tuple[float, float, float] = (0.46, 0.47, 0.42)
    ground_b: tuple[float, float, float] = (0.36, 0.38, 0.33)
    tile: float = 0.5


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


@dataclass
class Scene:
    """People (as SDFs) on a ground plane under a sky."""

    people: list[PersonShape]
    lighting: Lighting = field(default_factory=Lighting)
    margin: float = 0.05

    def sdf(self, p: np.ndarray, exact_within: float = 0.0) -> np.ndarray:
        """Distance ``(N,)`` from ``p (N, 3)`` to the nearest person (``inf`` with nobody).

        Points farther than ``margin`` (or ``exact_within``, if larger) from a person's (or a
        body part's) bounding box get the box distance, a lower bound of the true distance, so
        only points near a person pay for its primitives.
        """
        d = np.full(p.shape[0], np.inf)
        margin = max(self.margin, exact_within)
        for person in self.people:
            db = sdf.aabb_distance(p, person.lo, person.hi)
            near = db < margin
            dp = db
            if near.any():
                dp = db.copy()
                dp[near] = person.sdf(p[near], exact_within)
            np.minimum(d, dp, out=d)
        return d

    def albedo(self, p: np.ndarray) -> np.ndarray:
        """Colour ``(N, 3)`` of the person surface nearest to each point."""
        best = np.full(p.shape[0], np.inf)
        out = np.zeros((p.shape[0], 3))
        for person in self.people:
            near = sdf.aabb_distance(p, person.lo, person.hi) < self.margin
            if not near.any():
                continue
            q = p[near]
            d = person.sdf(q)
            idx = np.nonzero(near)[0]
            better = d < best[idx]
            best[idx[better]] = d[better]
            out[idx[better]] = person.albedo(q[better])
        return out

    def ground_albedo(self, xy: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Tiled ground colour ``(N, 3)`` at ``xy (N, 2)``; the tile contrast fades with
        ``distance (N,)`` from the camera (m) so far tiles do not alias."""
        lt = self.lighting
        ij = np.floor(xy / lt.tile).astype(np.int64)
        checker = ((ij[:, 0] + ij[:, 1]) & 1).astype(float)
        # thin grout lines between tiles
        f = np.abs(xy / lt.tile - np.round(xy / lt.tile))
        line = (np.minimum(f[:, 0], f[:, 1]) < 0.02).astype(float)
        fade = np.clip(1.0 - (distance - 6.0) / 10.0, 0.0, 1.0)
        a, bcol = np.asarray(lt.ground_a), np.asarray(lt.ground_b)
        mean = 0.5 * (a + bcol)
        col = a[None] * checker[:, None] + bcol[None] * (1.0 - checker[:, None])
        col = col * (1.0 - 0.35 * line[:, None])
        return mean[None] + (col - mean[None]) * fade[:, None]

    def sky(self, dirs: np.ndarray) -> np.ndarray:
        """Sky colour ``(N, 3)`` (already lit) for unit view directions ``dirs (N, 3)``."""
        lt = self.lighting
        h = np.clip(dirs[:, 2], 0.0, 1.0) ** 0.6
        zen, hor = np.asarray(lt.sky_zenith), np.asarray(lt.sky_horizon)
        return hor[None] * (1.0 - h[:, None]) + zen[None] * h[:, None]


def build_scene(bodies: list[PosedBody], lighting: Lighting | None = None) -> Scene:
    """Scene for posed bodies."""
    return Scene([person_shape(b) for b in bodies], lighting or Lighting())
