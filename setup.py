"""Ships ``pyserini_milco.pth`` (the start-up line of the Pyserini hook) inside the wheel."""
import os

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithPth(build_py):
    def run(self):
        super().run()
        self.copy_file("pyserini_milco.pth", os.path.join(self.build_lib, "pyserini_milco.pth"))


setup(cmdclass={"build_py": BuildPyWithPth})
