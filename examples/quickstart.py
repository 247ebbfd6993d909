"""A first covalent-ray workflow: dispatch, wait, read the result and where to watch it.

Run it with the service started (``covalent-ray start``); ``make run`` does both.
"""

import covalent_ray as ct


@ct.electron
def join_words(a: str, b: str) -> str:
    return ", ".join([a, b])


@ct.electron
def excitement(a: str) -> str:
    return f"{a}!"


@ct.electron
def word_lengths(sentence: str) -> list[int]:
    return [len(w) for w in sentence.split()]


@ct.lattice
def hello(a: str, b: str) -> dict:
    sentence = excitement(join_words(a, b))
    return {"sentence": sentence, "lengths": word_lengths(sentence)}


if __name__ == "__main__":
    dispatch_id = ct.dispatch(hello)("Hello", "World")
    print(f"Dispatched {dispatch_id}")
    result = ct.get_result(dispatch_id, wait=True)
    print(f"Status: {result.status}")
    print(f"Result: {result.result}")
    from covalent_ray.client.connect import connect

    url = connect().info.api_url
    if url:
        print(f"Dashboard: {url}/#/dispatches/{dispatch_id}")
