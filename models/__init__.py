"""Brian2 equations and the builders that turn them into groups."""
import warnings

# setuptools warns about one of its own private helpers whenever Brian2 compiles
# with Cython (also in parallel workers); nothing a user can act on.
warnings.filterwarnings("ignore", message="_get_vc_env is private")
