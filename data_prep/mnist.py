"""Put the full MNIST where milelib reads it (the `paper` profile of notebook 06).

    python data_prep/mnist.py --root /data        # makes /data/MNIST/raw/*-ubyte

On a machine with internet it downloads MNIST through torchvision; anywhere, it then checks the
four files (train and t10k images and labels) and says how many digits each split holds.
Idempotent: files already there are checked, not fetched again. Point milelib at the same folder
with DATA_ROOT in the notebook, `--set data_root=DIR` on the command line, or MILELIB_DATA.
"""
import argparse

from milelib.data import load_digits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="folder that will hold MNIST/raw")
    parser.add_argument("--no-download", action="store_true", help="only check files already there")
    args = parser.parse_args(argv)
    try:
        digits = load_digits("mnist", args.root)
    except FileNotFoundError:
        if args.no_download:
            raise
        import torchvision  # only needed to download

        for train in (True, False):
            torchvision.datasets.MNIST(args.root, train=train, download=True)
        digits = load_digits("mnist", args.root)
    for split, d in digits.items():
        print(f"{split}: {len(d)} digits of {d.images.shape[1]}x{d.images.shape[2]}, "
              f"{len(set(d.labels.tolist()))} classes")


if __name__ == "__main__":
    main()
