//! The bulk pattern: build N model objects concurrently with `gather`, then save them all with
//! `gather`. Each step takes as long as its slowest item, not the sum of all of them.
//!
//! ```text
//! $ cargo run --example bulk_models
//! building 5 models concurrently
//! built: [Model { id: 1, name: "model-1" }, ..., Model { id: 5, name: "model-5" }]
//! saved model-1
//! ...
//! saved model-5
//! saved 5 models in 2 rounds of gather
//! ```

use std::time::Duration;

#[derive(Debug, Clone)]
struct Model {
    id: u32,
    name: String,
}

/// Stands in for a network or database round trip that creates the object.
async fn build_model(id: u32) -> Model {
    evloop::sleep(Duration::from_millis(100)).await;
    Model {
        id,
        name: format!("model-{id}"),
    }
}

/// Stands in for a round trip that stores it.
async fn save(model: Model) -> u32 {
    evloop::sleep(Duration::from_millis(100)).await;
    println!("saved {}", model.name);
    model.id
}

fn main() {
    const N: u32 = 5;
    evloop::run(async {
        println!("building {N} models concurrently");
        let models = evloop::gather((1..=N).map(build_model))
            .await
            .expect("every model was built");
        println!("built: {models:?}");
        let saved = evloop::gather(models.into_iter().map(save))
            .await
            .expect("every model was saved");
        assert_eq!(saved, (1..=N).collect::<Vec<_>>());
        println!("saved {} models in 2 rounds of gather", saved.len());
    });
}
