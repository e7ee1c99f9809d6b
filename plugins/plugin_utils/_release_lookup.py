# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: internal to eksd.distro, not public API.
"""The one shape of every release lookup: resolve the release from the options, then answer each term."""

from __future__ import annotations

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.eksd.distro.plugins.module_utils._fetch import (
    RELEASE_OPTION_NAMES,
    resolve_release,
)
from ansible_collections.eksd.distro.plugins.module_utils._manifest import ManifestError


class ReleaseLookupBase(LookupBase):
    """Subclasses set ``find(release, term)``; library errors become AnsibleLookupError."""

    find = None

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        options = {name: self.get_option(name) for name in RELEASE_OPTION_NAMES + ("release_data",)}
        try:
            release = resolve_release(options)
            return [type(self).find(release, term) for term in terms]
        except ManifestError as exc:
            raise AnsibleLookupError(str(exc)) from exc
