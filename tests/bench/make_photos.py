#!/usr/bin/python3
"""Real photographs for the data benchmark (issue 26): crops of the photographs Debian ships as
desktop backgrounds, written as a class-folder dataset of JPEGs (and, with --shards, as
WebDataset tar shards), so decode speed is measured on photographs too, not only on
build/make_images's synthetic JPEGs (which compress and decode somewhat differently).

Sources (Debian packages; `apt-get install mate-backgrounds gnome-backgrounds desktop-base`):
the default is the twelve photographs of mate-backgrounds (/usr/share/backgrounds/mate/nature:
flowers, grass, a ladybird, water drops, dunes, a storm, wood). The rest of those packages
is drawn or rendered art (mate's abstract and desktop sets, gnome-backgrounds' WebP renders,
desktop-base's SVG themes), not photographs; --art adds the raster ones as further classes.

Each source is one class (its file name). A crop is a 4:3 window (or --size's aspect) of
the source at a log-uniform zoom between the source's own pixels (a window of exactly the
output size) and the largest window that fits, at a uniform position, resized to --size
with PIL's Lanczos filter and saved at --quality (4:2:0 chroma subsampling, PIL's default,
as most camera and web JPEGs are). Seeded: the same arguments write the same files.

Usage: make_photos.py [--out build/bench/photos] [--train 500] [--test 50] [--size 500x375]
                      [--quality 90] [--seed 0] [--art] [--shards DIR [--per-shard 100]]
Writes OUT/{train,test}/<source>/<NNNNNN>.jpg; with --shards, DIR/{train,test}-NNNNNN.tar
holding KEY.jpg and KEY.cls (the class index as text, classes sorted by name as an image
folder's are) in the WebDataset layout. Prints one JSON line: counts, classes, mean bytes.
Needs python3-pil."""
import argparse
import glob
import io
import json
import math
import os
import random
import sys
import tarfile

from PIL import Image

PHOTOS = "/usr/share/backgrounds/mate/nature/*.jpg"
# Raster art of the same packages (--art): drawn, rendered or painted, not photographed.
# Only the largest of a picture's resolutions is taken (Elephants ships three).
ART = ["/usr/share/backgrounds/mate/abstract/*.png", "/usr/share/backgrounds/mate/abstract/Elephants.jpg",
       "/usr/share/backgrounds/mate/desktop/*.png", "/usr/share/backgrounds/mate/desktop/*.jpg",
       "/usr/share/backgrounds/gnome/*.webp", "/usr/share/desktop-base/*-theme/grub/grub-16x9.png"]


def sources(art):
    files = sorted(glob.glob(PHOTOS))
    if art:
        files += sorted(f for pattern in ART for f in glob.glob(pattern))
    files = [f for f in files if min(Image.open(f).size) >= 600]  # vnc-*.webp is 256 px
    if not files:
        sys.exit(f"make_photos.py: no photographs at {PHOTOS}; apt-get install mate-backgrounds")
    names = {}
    for f in files:
        name = os.path.splitext(os.path.basename(f))[0].lower()
        if "theme" in f:
            name = f.split("/")[-3].replace("-theme", "") + "-" + name
        names[name] = f
    return dict(sorted(names.items()))


def crop(image, width, height, rng):
    """A width:height window at a log-uniform zoom and uniform position, resized to width ×
    height."""
    sw, sh = image.size
    largest = min(sw, sh * width / height)  # the widest window of this aspect that fits
    smallest = min(width, largest)
    cw = smallest * math.exp(rng.uniform(0, math.log(largest / smallest)))
    ch = cw * height / width
    x, y = rng.uniform(0, sw - cw), rng.uniform(0, sh - ch)
    return image.resize((width, height), Image.LANCZOS, box=(x, y, x + cw, y + ch))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="build/bench/photos")
    ap.add_argument("--train", type=int, default=500)
    ap.add_argument("--test", type=int, default=50)
    ap.add_argument("--size", default="500x375")
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--art", action="store_true", help="also the packages' raster art, as more classes")
    ap.add_argument("--shards", help="also write WebDataset tar shards into this folder")
    ap.add_argument("--per-shard", type=int, default=100)
    a = ap.parse_args()
    width, height = map(int, a.size.split("x"))
    srcs = sources(a.art)
    names = list(srcs)
    # Decoded once each, converted to RGB (alpha over white, as simmimd composites it).
    images = {}
    for name, path in srcs.items():
        im = Image.open(path)
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            back = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(back, im)
        images[name] = im.convert("RGB")
    total_bytes, count = 0, 0
    for split, n in (("train", a.train), ("test", a.test)):
        rng = random.Random(f"{a.seed}-{split}")
        shard, tar = -1, None
        for i in range(n):
            cls = i % len(names)  # classes interleaved, as a shuffled shard holds them
            buf = io.BytesIO()
            crop(images[names[cls]], width, height, rng).save(buf, "JPEG", quality=a.quality)
            data = buf.getvalue()
            folder = os.path.join(a.out, split, names[cls])
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:06d}.jpg"), "wb") as f:
                f.write(data)
            if a.shards:
                if i // a.per_shard != shard:
                    if tar:
                        tar.close()
                    shard = i // a.per_shard
                    os.makedirs(a.shards, exist_ok=True)
                    tar = tarfile.open(os.path.join(a.shards, f"{split}-{shard:06d}.tar"), "w",
                                       format=tarfile.USTAR_FORMAT)
                for member, payload in ((f"{i:06d}.jpg", data), (f"{i:06d}.cls", str(cls).encode())):
                    info = tarfile.TarInfo(member)
                    info.size, info.mode, info.mtime = len(payload), 0o644, 0
                    tar.addfile(info, io.BytesIO(payload))
            total_bytes += len(data)
            count += 1
        if tar:
            tar.close()
    print(json.dumps({"tool": "make_photos", "out": a.out, "shards": a.shards, "train": a.train,
                      "test": a.test, "classes": len(names), "sources": names, "size": a.size,
                      "quality": a.quality, "mean_bytes": round(total_bytes / max(count, 1)),
                      "bits_per_pixel": round(8 * total_bytes / max(count, 1) / (width * height), 3)}))


if __name__ == "__main__":
    main()
