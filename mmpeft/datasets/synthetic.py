"""Seeded rendering of small synthetic scenes (pure numpy and OpenCV).

Two kinds of scene:

* **object scenes** (:func:`render_object_scene`): a textured background
  with a few flat objects that may occlude each other. Every object has a
  *shape* (disc, square, triangle, ...) and a *fill* (solid, dotted,
  patterned, ...); its class is the pair, so neither the shape nor the fill
  alone names it. Colour, size, tilt, pattern orientation and period are
  random nuisances. Used for semantic and instance segmentation.
* **depth scenes** (:func:`render_depth_scene`): a room seen by a pinhole
  camera: a floor plane with perspective tiles, a slanted back wall and
  objects standing on the floor (size in pixels inversely proportional to
  depth), with depth in metres for every pixel.

A *variant* (:data:`VARIANTS`) fixes which shapes and fills exist, hence the
class list, and the object geometry: ``source`` (the pretraining task) lumps
stripes, dots and checkerboards into one 'patterned' fill; ``target`` (the
transfer task) has the same shapes but tells dotted from checkered, so no
class is shared and the distinction pretraining learned to ignore matters.

Everything is drawn at :data:`SUPERSAMPLE` times the output size and reduced
by area averaging, so edges are anti-aliased while label maps stay exact
(a pixel belongs to the layer that covers most of it). Lengths are defined
for a 64-pixel image and scale with the requested size. All randomness comes
from the ``numpy.random.Generator`` passed in, so a seed fixes every byte.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

SUPERSAMPLE = 4
MIN_SIZE = 32
MAX_SIZE = 1024
BASE_SIZE = 64  # the size the length constants below are written for

SHAPES = ('disc', 'square', 'triangle', 'hexagon', 'star', 'cross')
FILLS = ('solid', 'striped', 'dotted', 'checkered', 'outlined', 'patterned')
# 'patterned' draws one of these per object: a class that lumps them
# together teaches a backbone to ignore the difference.
PATTERNS = ('striped', 'dotted', 'checkered')


@dataclass(frozen=True)
class Camera:
    """How a variant's scenes are photographed: a domain shift of the
    sensor, not of the scene. ``exposure`` scales intensity (a dark scene),
    ``gamma`` bends the tone curve, ``noise`` is the std of the sensor
    noise in 8-bit levels and ``blur`` the std in pixels of a Gaussian
    defocus, both at the output size.
    """
    exposure: float = 1.0
    gamma: float = 1.0
    noise: float = 2.0
    blur: float = 0.0


@dataclass(frozen=True)
class Variant:
    """A task variant: its shapes and fills; classes are all pairs.

    ``radius``: object radius range as a fraction of the image size (area
    pi r^2 whatever the shape); ``rotation``: objects turn by up to this
    many radians either way (pi: any orientation); ``num_objects``:
    inclusive range of objects per object scene.
    """
    name: str
    shapes: Tuple[str, ...]
    fills: Tuple[str, ...]
    description: str = ''
    radius: Tuple[float, float] = (0.12, 0.2)
    rotation: float = math.pi
    num_objects: Tuple[int, int] = (2, 4)
    camera: Camera = Camera()

    @property
    def classes(self) -> Tuple[str, ...]:
        """Class names, shape-major: ``'<fill> <shape>'``."""
        return tuple(f'{fill} {shape}' for shape in self.shapes
                     for fill in self.fills)

    def class_parts(self, index: int) -> Tuple[str, str]:
        """(shape, fill) of the class with this 0-based index."""
        return (self.shapes[index // len(self.fills)],
                self.fills[index % len(self.fills)])


_GEOMETRY = dict(radius=(0.15, 0.24), rotation=0.35, num_objects=(2, 3))
VARIANTS: Dict[str, Variant] = {
    'source': Variant(
        'source', ('disc', 'square', 'triangle'), ('solid', 'patterned'),
        'pretraining task: 3 shapes x {solid, patterned}; patterned is '
        'striped, dotted or checkered at random', **_GEOMETRY),
    'target': Variant(
        'target', ('disc', 'square', 'triangle'), ('dotted', 'checkered'),
        'transfer task: the same shapes, but dotted and checkered (both '
        '"patterned" in the source task) are now different classes, seen '
        'by a noisier camera (sensor noise std 30 levels instead of 2)',
        camera=Camera(noise=30.0), **_GEOMETRY),
}

# A fixed palette for visualisation (class i -> PALETTE[i]).
PALETTE = [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
           [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230],
           [210, 245, 60], [250, 190, 212], [0, 128, 128], [170, 110, 40]]

# Indoor scene names of mmseg's NYUDataset; each picks a room palette.
NYU_SCENES = ('bedroom', 'kitchen', 'living_room', 'office', 'bathroom',
              'classroom')
MIN_DEPTH = 0.5   # metres
MAX_DEPTH = 10.0  # metres


def check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
        raise TypeError(f'size must be an int, got {size!r}')
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(
            f'size must be between {MIN_SIZE} and {MAX_SIZE} pixels, '
            f'got {size}')
    return int(size)


def get_variant(variant) -> Variant:
    if isinstance(variant, Variant):
        return variant
    if variant not in VARIANTS:
        raise ValueError(f'unknown variant {variant!r}; '
                         f'choose from {sorted(VARIANTS)}')
    return VARIANTS[variant]


# --------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------
def _polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _regular(n: int, phase: float = 0.0) -> np.ndarray:
    t = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(t), np.sin(t)], 1)


def _unit_shapes() -> Dict[str, np.ndarray]:
    star = _regular(10, -np.pi / 2)
    star[1::2] *= 0.45
    w = 0.36
    cross = np.array([[w, -1], [w, -w], [1, -w], [1, w], [w, w], [w, 1],
                      [-w, 1], [-w, w], [-1, w], [-1, -w], [-w, -w],
                      [-w, -1]], dtype=np.float64)
    shapes = dict(
        disc=_regular(48), square=_regular(4, np.pi / 4),
        triangle=_regular(3, -np.pi / 2), hexagon=_regular(6), star=star,
        cross=cross)
    # Same area as the unit disc: size is no cue to the shape.
    return {
        name: pts * math.sqrt(math.pi / abs(_polygon_area(pts)))
        for name, pts in shapes.items()
    }


UNIT_SHAPES = _unit_shapes()


def shape_polygon(shape: str, center, radius: float,
                  angle: float) -> np.ndarray:
    """Vertices (N, 2) of a shape with area pi * radius**2."""
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return UNIT_SHAPES[shape] @ rot.T * radius + np.asarray(center)


def polygon_mask(pts: np.ndarray, size: int) -> np.ndarray:
    """Boolean mask at SUPERSAMPLE x size of a polygon in output pixels."""
    canvas = np.zeros((size * SUPERSAMPLE, size * SUPERSAMPLE), np.uint8)
    shift = 4  # sub-pixel precision of cv2.fillPoly
    # The canvas pixel k covers [k, k+1) / S in output pixels; fillPoly
    # treats integer coordinates as pixel centres, hence the -0.5.
    pts_int = np.round(
        (pts * SUPERSAMPLE - 0.5) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(canvas, [pts_int], 1, lineType=cv2.LINE_8, shift=shift)
    return canvas.astype(bool)


def _grid(size: int, factor: int = SUPERSAMPLE):
    """Pixel-centre coordinates of a canvas ``factor`` times the output
    size, in output pixels."""
    t = (np.arange(size * factor, dtype=np.float32) + 0.5) / factor
    return np.meshgrid(t, t)


def _has_hole(mask: np.ndarray) -> bool:
    contours, hierarchy = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0, :, 3] >= 0).any())


# --------------------------------------------------------------------------
# Colours and textures
# --------------------------------------------------------------------------
def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """RGB in [0, 1] from hue in [0, 1)."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v),
                     (v, p, q)][i], dtype=np.float32)


def _object_colors(rng) -> Tuple[np.ndarray, np.ndarray]:
    """A saturated main colour and a contrasting second one."""
    main = _hsv(rng.random(), rng.uniform(0.55, 1.0), rng.uniform(0.6, 1.0))
    if rng.random() < 0.5:
        second = main * rng.uniform(0.1, 0.35)
    else:
        second = main + (1 - main) * rng.uniform(0.65, 0.9)
    return main, second.astype(np.float32)


def _rgb(t: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 3) by repetition (faster than broadcasting)."""
    t = t.astype(np.float32, copy=False)
    return cv2.merge([t, t, t])


def _mix(a, b, t):
    """Colour a where t == 0, b where t == 1 (a, b: RGB triples)."""
    t = t.astype(np.float32, copy=False)
    return cv2.merge([a[i] + (b[i] - a[i]) * t for i in range(3)])


def _rotated(xx, yy, angle):
    c, s = math.cos(angle), math.sin(angle)
    return xx * c + yy * s, -xx * s + yy * c


def fill_texture(fill: str, rng, xx: np.ndarray, yy: np.ndarray,
                 mask: np.ndarray, scale: float) -> np.ndarray:
    """RGB (float32, [0, 1]) of one fill on the given grid."""
    if fill == 'patterned':
        fill = PATTERNS[int(rng.integers(len(PATTERNS)))]
    main, second = _object_colors(rng)
    angle = rng.uniform(0, np.pi)
    u, v = _rotated(xx - rng.uniform(0, 8), yy - rng.uniform(0, 8), angle)
    if fill == 'solid':
        t = np.zeros_like(xx)
    elif fill == 'striped':
        period = rng.uniform(3.5, 5.0) * scale
        t = ((u / period) % 1.0 < 0.5).astype(np.float32)
    elif fill == 'dotted':
        period = rng.uniform(4.5, 6.0) * scale
        du = (u / period) % 1.0 - 0.5
        dv = (v / period) % 1.0 - 0.5
        t = (du * du + dv * dv < 0.32**2).astype(np.float32)
    elif fill == 'checkered':
        cell = rng.uniform(2.2, 3.0) * scale
        t = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    elif fill == 'outlined':
        dist = cv2.distanceTransform(
            mask.astype(np.uint8), cv2.DIST_L2, 5) / SUPERSAMPLE
        t = (dist > rng.uniform(1.8, 2.6) * scale).astype(np.float32)
    else:
        raise ValueError(f'unknown fill {fill!r}')
    rgb = _mix(main, second, t)
    # A soft light gradient across the object.
    light = 1.0 + 0.12 * np.tanh(_rotated(xx, yy, rng.uniform(0, 2 * np.pi))[0]
                                 / (8 * scale) - rng.uniform(-1, 1))
    return np.clip(rgb * _rgb(light), 0, 1)


def _value_noise(rng, shape, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1] from a random grid, bicubic upsampled."""
    grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
    return np.clip(
        cv2.resize(grid, shape[::-1], interpolation=cv2.INTER_CUBIC), 0, 1)


def render_background(rng, size: int, scale: float) -> np.ndarray:
    """Textured background: gradient plus noise, stripes or blobs.

    Smooth enough to be drawn at twice the output size and upsampled to
    the supersampled canvas.
    """
    factor = 2
    xx, yy = _grid(size, factor)
    shape = xx.shape
    c1 = _hsv(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.3, 0.9))
    c2 = _hsv(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.3, 0.9))
    g = _rotated(xx, yy, rng.uniform(0, 2 * np.pi))[0]
    g = (g - g.min()) / max(float(g.max() - g.min()), 1e-6)
    img = _mix(c1, c2, g * rng.uniform(0.3, 1.0))
    kind = rng.integers(3)
    contrast = rng.uniform(0.15, 0.35)
    if kind == 0:    # multi-scale noise
        t = 0.6 * _value_noise(rng, shape, 4) + 0.4 * _value_noise(
            rng, shape, int(rng.integers(8, 14)))
    elif kind == 1:  # soft stripes
        period = rng.uniform(7, 14) * scale
        u = _rotated(xx, yy, rng.uniform(0, np.pi))[0]
        t = 0.5 + 0.5 * np.sin(2 * np.pi * u / period)
    else:            # blobs
        t = (_value_noise(rng, shape, int(rng.integers(3, 7))) > 0.5)
        t = cv2.GaussianBlur(t.astype(np.float32), (0, 0), factor)
    tint = _hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.2, 1.0))
    img = img + (tint - img) * _rgb(contrast * t)
    full = size * SUPERSAMPLE
    return cv2.resize(img.astype(np.float32), (full, full),
                      interpolation=cv2.INTER_LINEAR)


def _finish(canvas: np.ndarray, rng, size: int,
            camera: Camera) -> np.ndarray:
    """Area-reduce the canvas, photograph it with ``camera`` (defocus,
    exposure, tone curve, sensor noise), return uint8 RGB."""
    img = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    if camera.blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), camera.blur * size / BASE_SIZE)
    if camera.exposure != 1.0 or camera.gamma != 1.0:
        img = np.clip(img * camera.exposure, 0, 1)**camera.gamma
    img = img * 255 + rng.normal(0, camera.noise, img.shape).astype(
        np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _reduce_layers(layers: np.ndarray, num: int, size: int) -> np.ndarray:
    """Per output pixel, the layer (0..num) covering most of it."""
    cover = [
        cv2.resize((layers == k).astype(np.float32), (size, size),
                   interpolation=cv2.INTER_AREA) for k in range(num + 1)
    ]
    return np.argmax(np.stack(cover), 0).astype(np.int32)


# --------------------------------------------------------------------------
# Object scenes
# --------------------------------------------------------------------------
@dataclass
class SceneObject:
    label: int                      # 0-based class index in the variant
    shape: str
    fill: str
    polygon: np.ndarray             # full silhouette, output pixels
    full: np.ndarray                # supersampled silhouette (bool)
    radius: float = 0.0             # output pixels (area = pi r^2)
    visible: np.ndarray = None      # supersampled visible part (bool)
    depth: float = 0.0              # metres (depth scenes only)


@dataclass
class Scene:
    image: np.ndarray               # (H, W, 3) uint8 RGB
    layers: np.ndarray              # (H, W) int32: 0 background, k object k
    objects: List[SceneObject] = field(default_factory=list)
    depth: Optional[np.ndarray] = None  # (H, W) float32 metres
    scene_name: str = ''

    def label_map(self) -> np.ndarray:
        """uint8 map: 0 background, class index + 1 on objects."""
        lut = np.array([0] + [o.label + 1 for o in self.objects], np.uint8)
        return lut[self.layers]


def _try_place(objects: List[SceneObject], new: SceneObject,
               min_visible: float, min_inside: float,
               full_area: float) -> bool:
    """Accept ``new`` on top if it stays inside the image and leaves every
    earlier object mostly visible and without holes."""
    if new.full.sum() < min_inside * full_area:
        return False
    updated = []
    for obj in objects:
        vis = obj.visible & ~new.full
        if vis.sum() == obj.visible.sum():
            updated.append(vis)
            continue
        if vis.sum() < min_visible * obj.full.sum() or _has_hole(vis):
            return False
        updated.append(vis)
    for obj, vis in zip(objects, updated):
        obj.visible = vis
    new.visible = new.full.copy()
    objects.append(new)
    return True


def _scene_labels(rng, variant: Variant, num: int,
                  first: Sequence[int]) -> List[int]:
    k = len(variant.classes)
    labels = [int(c) % k for c in first][:num]
    while len(labels) < 2:  # at least two different classes
        c = int(rng.integers(k))
        if c not in labels:
            labels.append(c)
    labels += [int(c) for c in rng.integers(k, size=num - len(labels))]
    return [labels[i] for i in rng.permutation(len(labels))]


def render_object_scene(rng: np.random.Generator, size: int = 64,
                        variant='source', num_objects=None,
                        first_labels: Sequence[int] = ()) -> Scene:
    """A textured background with a few possibly occluding objects.

    Args:
        rng: the only source of randomness.
        size: output height and width in pixels.
        variant: a :class:`Variant` or a key of :data:`VARIANTS`.
        num_objects: inclusive range of the number of objects (default:
            the variant's).
        first_labels: class indices that must appear (the first two at
            most are honoured; the rest are random). At least two distinct
            classes always appear.
    """
    size = check_size(size)
    variant = get_variant(variant)
    scale = size / BASE_SIZE
    xx, yy = _grid(size)
    num_objects = num_objects or variant.num_objects
    while True:
        canvas = render_background(rng, size, scale)
        num = int(rng.integers(num_objects[0], num_objects[1] + 1))
        labels = _scene_labels(rng, variant, num, list(first_labels)[:2])
        objects: List[SceneObject] = []
        for label in labels:
            shape, fill = variant.class_parts(label)
            for _ in range(40):
                radius = rng.uniform(*variant.radius) * size
                center = rng.uniform(0.08 * size, 0.92 * size, 2)
                pts = shape_polygon(
                    shape, center, radius,
                    rng.uniform(-variant.rotation, variant.rotation))
                new = SceneObject(label, shape, fill, pts,
                                  polygon_mask(pts, size), radius)
                area = math.pi * (radius * SUPERSAMPLE)**2
                if _try_place(objects, new, 0.55, 0.8, area):
                    break
        if len({o.label for o in objects}) >= 2:
            break
    _paint(canvas, objects, rng, xx, yy, scale)
    layers = _reduce_layers(_layers_of(objects), len(objects), size)
    return Scene(_finish(canvas, rng, size, variant.camera), layers,
                 objects)


def _paint(canvas, objects, rng, xx, yy, scale):
    """Draw the objects' fills, back to front, inside their boxes."""
    for obj in objects:
        rows = np.flatnonzero(obj.full.any(1))
        cols = np.flatnonzero(obj.full.any(0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        mask = obj.full[box]
        tex = fill_texture(obj.fill, rng, xx[box], yy[box], mask, scale)
        if obj.depth:
            tex = tex * _light(obj.depth)
        canvas[box][mask] = tex[mask]


def _layers_of(objects: List[SceneObject]) -> np.ndarray:
    out = np.zeros(objects[0].full.shape, np.int32)
    for k, obj in enumerate(objects, 1):
        out[obj.visible] = k
    return out


# --------------------------------------------------------------------------
# Depth scenes
# --------------------------------------------------------------------------
_ROOM_PALETTES = {  # (wall hue, floor hue, floor saturation)
    'bedroom': (0.08, 0.07, 0.35), 'kitchen': (0.15, 0.6, 0.1),
    'living_room': (0.1, 0.05, 0.45), 'office': (0.58, 0.6, 0.15),
    'bathroom': (0.5, 0.55, 0.05), 'classroom': (0.3, 0.08, 0.3),
}


def _room_depth(xx, yy, cam):
    """Depth (metres) of wall and floor and a floor flag at points."""
    f, cx, y0, hc, dw, tan_phi = cam
    wall = dw / (1.0 - tan_phi * (xx - cx) / f)
    below = yy - y0
    floor = np.where(below > 1e-3, hc * f / np.maximum(below, 1e-3), np.inf)
    depth = np.minimum(wall, floor)
    return depth, floor < wall


def _light(depth):
    """Light falls off with depth (a multiplicative factor)."""
    return np.clip(1.08 - 0.05 * depth, 0.55, 1.0)


def _render_room(rng, size, cam, palette) -> np.ndarray:
    """Floor with perspective tiles, wall with wallpaper stripes, both
    drawn at twice the output size and upsampled to the canvas."""
    factor = 2
    wall_hue, floor_hue, floor_sat = palette
    f, cx = cam[:2]
    xx, yy = _grid(size, factor)
    depth, is_floor = _room_depth(xx, yy, cam)
    depth = np.clip(depth, MIN_DEPTH, MAX_DEPTH)
    # Floor: square tiles of 0.4 to 0.6 m on the ground plane; wall:
    # vertical stripes of 0.25 to 0.45 m; a little noise on both.
    wx = (xx - cx) * depth / f
    tile = rng.uniform(0.4, 0.6)
    checker = (np.floor(wx / tile) + np.floor(depth / tile)) % 2
    stripes = np.floor(wx / rng.uniform(0.25, 0.45)) % 2
    floor_a = _hsv(floor_hue + rng.uniform(-0.03, 0.03), floor_sat,
                   rng.uniform(0.45, 0.7))
    floor_b = floor_a * rng.uniform(0.6, 0.8)
    wall_a = _hsv(wall_hue + rng.uniform(-0.05, 0.05), rng.uniform(0.1, 0.3),
                  rng.uniform(0.7, 0.95))
    wall_b = wall_a * rng.uniform(0.85, 0.95)
    noise = _value_noise(rng, xx.shape, 8)
    canvas = np.where(
        _rgb(is_floor) > 0, _mix(floor_a, floor_b, checker),
        _mix(wall_a, wall_b, stripes))
    canvas = canvas * _rgb((0.9 + 0.2 * noise) * _light(depth))
    full = size * SUPERSAMPLE
    return cv2.resize(canvas, (full, full), interpolation=cv2.INTER_LINEAR)


def render_depth_scene(rng: np.random.Generator, size: int = 64,
                       variant='target',
                       num_objects=None) -> Scene:
    """A room (floor plane, slanted back wall) with objects on the floor.

    The camera is a pinhole with focal length 0.9 * size pixels at 1.2 to
    1.6 m above the floor; the wall is 3.5 to 7 m away and turned by up to
    about 26 degrees. Objects (the variant's classes) are flat cut-outs
    facing the camera, standing on the floor, 0.25 to 0.5 m in radius, drawn
    far to near. Depth is clipped to [MIN_DEPTH, MAX_DEPTH].
    """
    size = check_size(size)
    variant = get_variant(variant)
    scale = size / BASE_SIZE
    xx, yy = _grid(size)
    scene_name = NYU_SCENES[int(rng.integers(len(NYU_SCENES)))]
    f, cx = 0.9 * size, size / 2
    y0 = rng.uniform(0.2, 0.42) * size
    hc = rng.uniform(1.2, 1.6)
    dw = rng.uniform(3.5, 7.0)
    tan_phi = math.tan(rng.uniform(-0.45, 0.45))
    cam = (f, cx, y0, hc, dw, tan_phi)
    canvas = _render_room(rng, size, cam, _ROOM_PALETTES[scene_name])

    num_objects = num_objects or variant.num_objects
    num = int(rng.integers(num_objects[0], num_objects[1] + 1))
    labels = _scene_labels(rng, variant, num, ())
    z_near = hc * f / (size - y0) * 1.08  # contact point inside the image
    candidates = []
    for label in labels:
        for _ in range(40):
            x_c = rng.uniform(0.12, 0.88) * size
            z_far = 0.9 * dw / (1.0 - tan_phi * (x_c - cx) / f)
            z_far = min(z_far, MAX_DEPTH * 0.85)
            if z_near >= z_far:
                continue
            z = rng.uniform(z_near, z_far)
            radius = float(np.clip(rng.uniform(0.25, 0.5) * f / z,
                                   0.06 * size, 0.25 * size))
            y_contact = y0 + hc * f / z
            shape, fill = variant.class_parts(label)
            pts = shape_polygon(shape, (x_c, y_contact - radius), radius,
                                rng.uniform(-0.3, 0.3))
            candidates.append(SceneObject(
                label, shape, fill, pts, polygon_mask(pts, size), radius,
                depth=z))
            break
    objects: List[SceneObject] = []
    for obj in sorted(candidates, key=lambda o: -o.depth):  # far to near
        area = math.pi * (obj.radius * SUPERSAMPLE)**2
        _try_place(objects, obj, 0.4, 0.7, area)
    _paint(canvas, objects, rng, xx, yy, scale)
    image = _finish(canvas, rng, size, variant.camera)

    layers = (_reduce_layers(_layers_of(objects), len(objects), size)
              if objects else np.zeros((size, size), np.int32))
    t = np.arange(size, dtype=np.float32) + 0.5
    bg_depth, _ = _room_depth(*np.meshgrid(t, t), cam)
    obj_depth = np.array([0.0] + [o.depth for o in objects], np.float32)
    depth_map = np.where(layers > 0, obj_depth[layers], bg_depth)
    depth_map = np.clip(depth_map, MIN_DEPTH, MAX_DEPTH).astype(np.float32)
    return Scene(image, layers, objects, depth_map, scene_name)


def to_bgr(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[..., ::-1])
