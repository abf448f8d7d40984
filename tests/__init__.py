"""cnnlab test suite; a package so that ``from tests.oracles import ...`` works from every test folder."""
