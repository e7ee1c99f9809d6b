# Offline stand-in for ansible-test's get-pip bootstrap script (its download site is out of reach
# here; ansible-test's own error message says the script may be saved to its cache by hand).
# Bootstraps pip from the standard library's ensurepip, then installs what ansible-test asked for
# from the package index this machine reaches.
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall"] + sys.argv[1:])
